// Runs the example server (examples/node-server/server.mjs) in a child process
// for the browser tests, so a test can stop it and start it again on the same
// port with the same database file, as an outage would. It reports to the
// parent over IPC: { type: 'listening', port }, and one { type: 'handled' } per
// onMessage handler run and { type: 'component_action' } per form submit, so a
// test can count what the application saw (exactly once, never twice).
//   env: PORT (0 = any), DATABASE (file or :memory:), STEP_MS
import { ChatServer } from 'chatwire';
import { createExampleServer } from '../../examples/node-server/server.mjs';

const report = (m) => process.send?.(m);

// Count handler runs without touching the example: wrap whatever handlers it registers.
const onMessage = ChatServer.prototype.onMessage;
ChatServer.prototype.onMessage = function wrapped(handler) {
  return onMessage.call(this, (msg, reply) => {
    report({ type: 'handled', messageId: msg.messageId, content: msg.content, images: msg.images.length });
    return handler(msg, reply);
  });
};
const onComponentAction = ChatServer.prototype.onComponentAction;
ChatServer.prototype.onComponentAction = function wrapped(handler) {
  return onComponentAction.call(this, (action, ctx) => {
    report({ type: 'component_action', componentId: action.componentId, action: action.action, values: action.values });
    return handler(action, ctx);
  });
};

const server = createExampleServer({
  host: '127.0.0.1',
  port: Number(process.env.PORT ?? 0),
  database: process.env.DATABASE ?? ':memory:',
  stepMs: Number(process.env.STEP_MS ?? 40),
});
await server.listen();
report({ type: 'listening', port: server.port });

let closing = false;
async function stop() {
  if (closing) return;
  closing = true;
  await server.close();
  process.exit(0);
}
process.on('message', (m) => { if (m?.type === 'close') stop(); });
process.on('SIGTERM', stop);
process.on('disconnect', stop);  // the test runner went away
