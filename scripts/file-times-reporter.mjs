// A node:test reporter for run-tests.mjs: how long each test file took, as one JSON object
// ({ "<file>": { ms, tests } }) written when the run ends. `ms` spans the file's first and last
// event as they reached the runner (its start-up before the first test is not in it), `tests` counts
// its top-level tests and suites. run-tests prints the slowest files from it, the list that
// SLOW_FIRST is kept by.
export default async function* fileTimes(source) {
  const files = new Map();
  for await (const event of source) {
    const file = event.data?.file;
    if (!file) continue;
    const now = performance.now();
    let f = files.get(file);
    if (!f) {
      f = { first: now, last: now, tests: 0 };
      files.set(file, f);
    }
    f.last = now;
    if ((event.type === "test:pass" || event.type === "test:fail") && event.data.nesting === 0) f.tests++;
  }
  const out = {};
  for (const [file, f] of files) out[file] = { ms: Math.round(f.last - f.first), tests: f.tests };
  yield `${JSON.stringify(out)}\n`;
}
