// A node:test reporter for run-tests.mjs: how long each test file took, as one JSON object
// ({ "<file>": ms }) written when the run ends. Node reports each file as a test named by its path:
// `test:dequeue` when its process starts, `test:complete` when it ends (its tests' own events may
// come later, in order). run-tests prints the slowest files from it, the list SLOW_FIRST is kept by.
export default async function* fileTimes(source) {
  const started = new Map();
  const took = {};
  for await (const event of source) {
    const { file, name } = event.data ?? {};
    if (!file || name !== file) continue;
    if (event.type === "test:dequeue") started.set(file, performance.now());
    else if (event.type === "test:complete" && started.has(file))
      took[file] = Math.round(performance.now() - started.get(file));
  }
  yield `${JSON.stringify(took)}\n`;
}
