// The product server in a child process, for tests where a failure could
// wedge or kill the process that runs it: the test writes a script that
// listens and prints `PORT <n>`; this starts it and stops it (SIGKILL).
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Writes `source` into `dir` and runs it; resolves { child, port, output() } once it printed its port. */
async function startChildServer(dir, source, { env = {}, nodeArgs = [] } = {}) {
  const script = path.join(dir, `server-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}.cjs`);
  fs.writeFileSync(script, source);
  const child = spawn(process.execPath, [...nodeArgs, script], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  const t0 = Date.now();
  while (!/PORT (\d+)/.test(output)) {
    if (Date.now() - t0 > 10000 || child.exitCode !== null) throw new Error(`server did not start: ${output}`);
    await sleep(20);
  }
  return { child, port: Number(/PORT (\d+)/.exec(output)[1]), output: () => output };
}

async function stopChildServer(s) {
  if (!s || s.child.exitCode !== null) return;
  s.child.kill('SIGKILL');
  await new Promise((r) => s.child.on('exit', r));
}

module.exports = { startChildServer, stopChildServer };
