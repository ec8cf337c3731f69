/**
 * Awaits `p` while holding the event loop open. Test servers (nats-server, Jaeger) are spawned
 * unref'd, with unref'd pipes, so a forgotten stop() never keeps a test process alive; waiting for
 * such a child to exit therefore needs something else to keep the loop running.
 */
export async function keepAlive<T>(p: Promise<T>): Promise<T> {
  const timer = setInterval(() => {}, 60_000);
  try {
    return await p;
  } finally {
    clearInterval(timer);
  }
}
