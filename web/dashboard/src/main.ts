import { createCharts } from "./charts.ts";
import { esc } from "./format.ts";
import * as render from "./render.ts";
import "./style.css";
import type { Snapshot } from "./types.ts";
import { devVoter, injected, walletVoter, type Voter } from "./wallet.ts";

/** Timings the benchmark and tests read: first render, and each render with its block. */
interface Timings {
  firstRender: number | null;
  renders: { head: number; at: number }[];
}
const timings: Timings = { firstRender: null, renders: [] };
(window as unknown as { conclave: Timings }).conclave = timings;

const $ = (id: string) => document.getElementById(id)!;
const charts = createCharts($("chart-jobs"), $("chart-latency"));
let latest: Snapshot | null = null;
let voter: Voter | null = null;
let pickerShown = false;

function showWallet(s: Snapshot): void {
  if (pickerShown) return;
  pickerShown = true;
  const parts: string[] = [];
  if (injected()) parts.push(`<button id="connect">Connect browser wallet</button>`);
  if (s.wallet.devAccounts.length) {
    parts.push(
      `<label>local network, vote as <select id="dev-account" data-testid="dev-account"><option value="">choose a development account</option>${s.wallet.devAccounts.map((a) => `<option value="${a.index}">#${a.index} ${esc(a.role)} ${esc(a.address)}</option>`).join("")}</select></label>`,
    );
  }
  if (!parts.length)
    parts.push(`<span class="note">No browser wallet found: install one (EIP-1193) to vote from this page.</span>`);
  $("wallet").innerHTML = `${parts.join(" ")} <span id="voter" class="note" data-testid="voter"></span>`;
  document.getElementById("connect")?.addEventListener("click", () => {
    void walletVoter(injected()!, latest ?? s).then(setVoter, (e: unknown) =>
      status(`wallet: ${(e as Error).message}`),
    );
  });
  document.getElementById("dev-account")?.addEventListener("change", (e) => {
    const i = Number((e.target as HTMLSelectElement).value);
    const a = s.wallet.devAccounts.find((d) => d.index === i);
    setVoter(a ? devVoter(a.index, a.address) : null);
  });
}

function setVoter(v: Voter | null): void {
  voter = v;
  $("voter").textContent = v ? `voting as ${v.label}` : "";
  if (latest) $("proposals").innerHTML = render.proposals(latest, voter !== null);
}

const status = (text: string) => ($("vote-status").textContent = text);

$("proposals").addEventListener("click", (e) => {
  const b = (e.target as HTMLElement).closest("button[data-vote]") as HTMLButtonElement | null;
  if (!b || !voter) return;
  const id = b.dataset.proposal!;
  const support = Number(b.dataset.vote);
  status(`sending vote ${["against", "for", "abstain"][support]} on ${id.slice(0, 12)}… as ${voter.label}`);
  voter.vote(id, support).then(
    (tx) => status(`vote sent: ${tx}`),
    (err: unknown) => status(`vote failed: ${(err as Error).message}`),
  );
});

function show(s: Snapshot): void {
  latest = s;
  $("chain").innerHTML = render.chain(s);
  $("totals").innerHTML = render.totals(s);
  $("proposals").innerHTML = render.proposals(s, voter !== null);
  $("jobs").innerHTML = render.jobs(s);
  $("jobs-count").textContent =
    s.totals.jobs > s.jobs.length ? `(latest ${s.jobs.length} of ${s.totals.jobs})` : `(${s.totals.jobs})`;
  $("providers").innerHTML = render.providers(s);
  $("models").innerHTML = render.models(s);
  $("rollouts").innerHTML = render.rollouts(s);
  charts.update(s);
  showWallet(s);
  const at = Date.now();
  timings.firstRender ??= performance.now();
  timings.renders.push({ head: s.head, at });
  if (timings.renders.length > 100) timings.renders.shift();
  document.body.dataset.head = String(s.head);
}

function connect(): void {
  const events = new EventSource("api/events");
  events.addEventListener("state", (e) => {
    $("live").className = "live on";
    show(JSON.parse((e as MessageEvent<string>).data) as Snapshot);
  });
  events.onerror = () => ($("live").className = "live off");
}

connect();
