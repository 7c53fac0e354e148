// The composer: text (Enter sends, Shift+Enter is a new line), an image picker
// with thumbnails, and client-side checks at selection time: chatwire's
// sniffImage reads the type and size from the bytes' headers (what the server
// will check too), so a bad file is refused with the reason before it is sent.
import { useRef, useState } from 'react';
import { codec, sniffImage } from 'chatwire';
import { formatBytes, newId, thumbnails } from './util.js';

// PROTOCOL.md's limits, as the client's send() and the server apply them
// (read once the WebAssembly module is loaded: main.jsx renders after init()).
let limitsCache;
const limits = () => (limitsCache ??= codec.limits());

/** Checks one picked file; resolves { bytes, info } or throws an Error with the reason. */
async function check(file) {
  const LIMITS = limits();
  if (file.size > LIMITS.maxImageBytes) {
    throw new Error(`${formatBytes(file.size)} is over the ${formatBytes(LIMITS.maxImageBytes)} limit`);
  }
  const bytes = new Uint8Array(await file.arrayBuffer());
  const info = sniffImage(bytes);  // throws ChatError('image_invalid') with the reason
  if (info.width > LIMITS.maxImageDimension || info.height > LIMITS.maxImageDimension) {
    throw new Error(`${info.width}×${info.height} px is over the ${LIMITS.maxImageDimension} px limit`);
  }
  return { bytes, info };
}

export function Composer({ store, client, announce }) {
  const LIMITS = limits();
  const [text, setText] = useState('');
  const [attachments, setAttachments] = useState([]);  // { id, name, size, bytes, info, url }
  const [rejected, setRejected] = useState([]);        // { key, name, reason }
  const [dragging, setDragging] = useState(false);
  const fileInput = useRef(null);
  const textArea = useRef(null);

  async function addFiles(files) {
    const accepted = [];
    const refused = [];
    for (const file of files) {
      if (attachments.length + accepted.length >= LIMITS.maxImages) {
        refused.push({ key: newId(), name: file.name, reason: `at most ${LIMITS.maxImages} images per message` });
        continue;
      }
      try {
        const { bytes, info } = await check(file);
        accepted.push({ id: newId(), name: file.name, size: file.size, bytes, info, url: URL.createObjectURL(file) });
      } catch (err) {
        refused.push({ key: newId(), name: file.name, reason: err?.message ?? String(err) });
      }
    }
    if (accepted.length) setAttachments((prev) => [...prev, ...accepted]);
    setRejected(refused);
    if (refused.length) {
      announce(refused.map((r) => `${r.name} was not attached: ${r.reason}`).join('. '));
    }
  }

  function remove(id) {
    setAttachments((prev) => prev.filter((a) => {
      if (a.id === id) URL.revokeObjectURL(a.url);
      return a.id !== id;
    }));
  }

  async function submit() {
    const content = text.trim();
    if (!content && !attachments.length) return;
    const images = attachments.map((a) => {
      thumbnails.set(a.id, a.url);  // the sent message shows the same thumbnail
      return { data: a.bytes, id: a.id, filename: a.name, mimeType: a.info.mimeType };
    });
    setText('');
    setAttachments([]);
    setRejected([]);
    client.setTyping(false);
    try {
      await store.getState().send({ content, images });
    } catch (err) {
      // Refused before anything was stored (e.g. too long): give the draft back.
      setText(content);
      setRejected([{ key: newId(), name: 'Message', reason: err?.message ?? String(err) }]);
      announce(`The message was not sent: ${err?.message ?? err}`);
    }
    textArea.current?.focus();
  }

  function onKeyDown(e) {
    if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      submit();
    }
  }

  function onChange(e) {
    setText(e.target.value);
    client.setTyping(e.target.value.length > 0);
  }

  return (
    <form
      className={`composer ${dragging ? 'is-dragging' : ''}`}
      onSubmit={(e) => { e.preventDefault(); submit(); }}
      onDragOver={(e) => { if (e.dataTransfer.types.includes('Files')) { e.preventDefault(); setDragging(true); } }}
      onDragLeave={() => setDragging(false)}
      onDrop={(e) => { e.preventDefault(); setDragging(false); addFiles([...e.dataTransfer.files]); }}
    >
      {rejected.length > 0 && (
        <ul className="rejected" data-testid="rejected" role="alert">
          {rejected.map((r) => (
            <li key={r.key}><strong>{r.name}</strong> was not attached: {r.reason}</li>
          ))}
          <li className="rejected-close"><button type="button" className="link" onClick={() => setRejected([])}>Dismiss</button></li>
        </ul>
      )}
      {attachments.length > 0 && (
        <ul className="attachments" aria-label="Images to send">
          {attachments.map((a) => (
            <li key={a.id} data-testid="attachment">
              <img src={a.url} alt={a.name} />
              <span className="att-meta">{a.info.width}×{a.info.height} · {formatBytes(a.size)}</span>
              <button type="button" className="att-remove" aria-label={`Remove ${a.name}`} onClick={() => remove(a.id)}>×</button>
            </li>
          ))}
        </ul>
      )}
      <div className="composer-row">
        <button type="button" className="icon-button" aria-label="Attach images" title="Attach images"
          onClick={() => fileInput.current?.click()}>
          <svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true"><path fill="currentColor" d="M16.5 6.5v10a4.5 4.5 0 0 1-9 0V5a3 3 0 0 1 6 0v10.5a1.5 1.5 0 0 1-3 0V6.5H9v9a3 3 0 0 0 6 0V5a4.5 4.5 0 0 0-9 0v11.5a6 6 0 0 0 12 0v-10z" /></svg>
        </button>
        <input ref={fileInput} type="file" accept="image/png,image/jpeg,image/gif,image/webp" multiple hidden
          data-testid="file-input" onChange={(e) => { addFiles([...e.target.files]); e.target.value = ''; }} />
        <textarea
          ref={textArea}
          rows={1}
          value={text}
          placeholder="Message the assistant…"
          aria-label="Message"
          aria-describedby="composer-hint"
          onChange={onChange}
          onKeyDown={onKeyDown}
          onBlur={() => client.setTyping(false)}
          onPaste={(e) => {
            const files = [...e.clipboardData.files].filter((f) => f.type.startsWith('image/'));
            if (files.length) { e.preventDefault(); addFiles(files); }
          }}
        />
        <button type="submit" className="send" aria-label="Send" disabled={!text.trim() && !attachments.length}>
          <svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true"><path fill="currentColor" d="M3.4 20.4 21.85 12 3.4 3.6 3.39 10.1 16 12 3.39 13.9z" /></svg>
        </button>
      </div>
      <p id="composer-hint" className="hint">Enter to send · Shift+Enter for a new line · PNG, JPEG, GIF or WebP up to {formatBytes(LIMITS.maxImageBytes)}</p>
    </form>
  );
}
