/** An executor log (event, fields) that keeps every event, for tests to look at. */
export function logRecorder() {
  const events: { event: string; fields: Record<string, unknown> }[] = [];
  return {
    events,
    log: (event: string, fields: object) => events.push({ event, fields: fields as Record<string, unknown> }),
  };
}
