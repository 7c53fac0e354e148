// Two ChatClients on one SQLite file (Node addon): each keeps its messages,
// outbox and seq in memory and would overwrite the other's rows, so the second
// one is refused with a ChatError naming the file, in the same process and
// from another process, until the first one closes; then it opens the file
// with everything the first one stored.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { ChatClient, ChatError } = require('chatwire');

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chatwire-sharing-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

// Nothing listens here: the clients stay offline and queue.
const url = 'ws://127.0.0.1:9/ws/chat';

test('a second ChatClient on the same file is refused until the first one closes', async () => {
  const file = path.join(tmp, 'one-process.db');
  const first = await ChatClient.create({ url, storage: file });
  const id = await first.send({ content: 'kept' });
  const { clientId } = first;

  const second = ChatClient.create({ url, storage: file });
  await expect(second).rejects.toBeInstanceOf(ChatError);
  await expect(ChatClient.create({ url, storage: file })).rejects.toMatchObject({
    code: 'invalid_field',
    message: expect.stringContaining(`options.storage '${file}' is in use by another ChatClient`),
  });
  // The first client is untouched by the refused attempts.
  expect(first.messages.map((m) => [m.id, m.status])).toEqual([[id, 'queued']]);

  await first.close();
  const later = await ChatClient.create({ url, storage: file });
  expect(later.messages.map((m) => [m.id, m.content, m.status])).toEqual([[id, 'kept', 'queued']]);
  expect(later.clientId).toBe(clientId);
  await later.close();
});

test('a ChatClient in another process is refused while this one holds the file', async () => {
  const file = path.join(tmp, 'two-processes.db');
  const holder = await ChatClient.create({ url, storage: file });
  await holder.send({ content: 'mine' });
  const script = `
    const { ChatClient } = require(${JSON.stringify(require.resolve('chatwire'))});
    ChatClient.create({ url: ${JSON.stringify(url)}, storage: ${JSON.stringify(file)} })
      .then(async (c) => { console.log('opened ' + c.messages.length); await c.close(); },
            (e) => console.log('refused ' + e.code + ': ' + e.message));`;
  const run = () => execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }).trim();
  expect(run()).toBe(`refused invalid_field: options.storage '${file}' is in use by another ChatClient ` +
    '(in this process or another); close that client first, or give each client its own file');
  await holder.close();
  expect(run()).toBe('opened 1');
});
