import type { Command } from "../command.ts";
import { accountCommands } from "./account.ts";
import { auditCommands } from "./audit.ts";
import { consumerCommands } from "./consumer.ts";
import { daoCommands } from "./dao.ts";
import { fleetCommands } from "./fleet.ts";
import { dashboardCommands } from "./dashboard.ts";
import { guardianCommands } from "./guardian.ts";
import { inferCommands } from "./infer.ts";
import { keyCommands } from "./key.ts";
import { modelCommands } from "./model.ts";
import { nodeCommands } from "./node.ts";
import { providerCommands } from "./provider.ts";
import { rolloutCommands } from "./rollout.ts";
import { statusCommands } from "./status.ts";
import { tokenCommands } from "./token.ts";

/** Every command, in the order `conclave --help` lists them. */
export const COMMANDS: Record<string, Command> = {
  ...statusCommands,
  ...dashboardCommands,
  ...modelCommands,
  ...daoCommands,
  ...rolloutCommands,
  ...guardianCommands,
  ...providerCommands,
  ...fleetCommands,
  ...nodeCommands,
  ...inferCommands,
  ...consumerCommands,
  ...accountCommands,
  ...tokenCommands,
  ...auditCommands,
  ...keyCommands,
};
