// A node:test reporter that prints nothing until the run ends, then every failed test again
// with its error. CI keeps the head and tail of a long log; this puts the failures in the tail.
import { inspect } from 'node:util';

export default async function* failuresReporter(source) {
  const failures = [];
  for await (const event of source) {
    if (event.type !== 'test:fail') continue;
    const { name, file, details } = event.data;
    // A file's own entry repeats its first failing test; keep the tests themselves.
    if (details?.error?.failureType === 'subtestsFailed') continue;
    failures.push({ name, file, error: details?.error });
  }
  if (failures.length === 0) return;
  yield `\n# ${failures.length} failed:\n`;
  for (const { name, file, error } of failures) {
    const cause = error?.cause ?? error;
    const text = inspect(cause, { depth: 4, breakLength: 100 }).split('\n').map((l) => `#   ${l}`).join('\n');
    yield `# - ${name}${file ? ` (${file})` : ''}\n${text}\n`;
  }
}
