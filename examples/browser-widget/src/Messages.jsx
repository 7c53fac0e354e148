// One conversation turn at a time: user messages with delivery ticks and
// images, assistant messages with thinking steps, tool activity, the streamed
// text, image analysis, components and citations. Messages come from the
// store with stable identities, so memo() skips every unchanged one.
import { memo, useState } from 'react';
import { ComponentView } from './FormCard.jsx';
import { brief, clock, thumbnails } from './util.js';

const TICKS = {
  queued: { glyph: '🕓', label: 'Queued: sends when online' },
  sent: { glyph: '✓', label: 'Sent' },
  received: { glyph: '✓✓', label: 'Received by the server' },
  processed: { glyph: '✓✓', label: 'Processed' },
  failed: { glyph: '!', label: 'Not delivered' },
};

const CHECK = 'M1.5 8.6 5 12.1 12.2 4.2';

function TickIcon({ status }) {
  if (status === 'queued') {
    return (
      <svg viewBox="0 0 16 16" width="14" height="14" aria-hidden="true">
        <circle cx="8" cy="8" r="6.2" fill="none" stroke="currentColor" strokeWidth="1.6" />
        <path d="M8 4.6V8l2.4 1.6" fill="none" stroke="currentColor" strokeWidth="1.6" strokeLinecap="round" />
      </svg>
    );
  }
  if (status === 'failed') {
    return (
      <svg viewBox="0 0 16 16" width="14" height="14" aria-hidden="true">
        <circle cx="8" cy="8" r="7" fill="currentColor" />
        <path d="M8 4.2v4.6M8 11.2v.4" stroke="#fff" strokeWidth="1.8" strokeLinecap="round" />
      </svg>
    );
  }
  const double = status === 'received' || status === 'processed';
  return (
    <svg viewBox={double ? "0 0 21 16" : "0 0 16 16"} width={double ? 21 : 16} height="16" aria-hidden="true">
      <path d={CHECK} fill="none" stroke="currentColor" strokeWidth="1.9" strokeLinecap="round" strokeLinejoin="round" />
      {double && <path d={CHECK} transform="translate(6 0)" fill="none" stroke="currentColor" strokeWidth="1.9" strokeLinecap="round" strokeLinejoin="round" />}
    </svg>
  );
}

/** Delivery state: clock (queued), ✓ sent, ✓✓ received, blue ✓✓ processed, ! failed. */
function Ticks({ status }) {
  const t = TICKS[status] ?? { glyph: '', label: status };
  return (
    <span className={`ticks ticks-${status}`} data-testid="ticks" data-glyph={t.glyph} title={t.label} role="img" aria-label={t.label}>
      <TickIcon status={status} />
    </span>
  );
}

const IMAGE_STATUS = { received: 'Received', processing: 'Analyzing…', analyzed: 'Analyzed' };

function ImageThumb({ img }) {
  const url = thumbnails.get(img.id);
  const status = img.status;
  return (
    <figure className="thumb" data-testid="message-image" data-image-status={status ?? 'pending'}>
      {url
        ? <img src={url} alt={img.filename ?? 'attached image'} />
        : (
          <div className="thumb-placeholder" aria-label={img.filename ?? 'attached image'}>
            <span aria-hidden="true">🖼</span>
            <small>{img.mimeType.replace('image/', '').toUpperCase()}</small>
          </div>
        )}
      <figcaption>
        <span className="thumb-name">{img.filename ?? 'image'}</span>
        <span className="thumb-dims">{img.width}×{img.height}</span>
        {status && <span className={`chip chip-${status}`}>{IMAGE_STATUS[status] ?? status}</span>}
      </figcaption>
    </figure>
  );
}

export const UserMessage = memo(function UserMessage({ message: m, onRetry }) {
  return (
    <li className={`msg msg-user status-${m.status}`} data-testid="user-message" data-id={m.id} data-status={m.status}>
      <div className="bubble">
        {m.images.length > 0 && (
          <div className="thumbs">{m.images.map((img) => <ImageThumb key={img.id} img={img} />)}</div>
        )}
        {m.content && <div className="text">{m.content}</div>}
      </div>
      <div className="meta">
        <time dateTime={m.createdAt}>{clock(m.createdAt)}</time>
        <Ticks status={m.status} />
      </div>
      {m.status === 'failed' && (
        <div className="failure" data-testid="failure">
          <span>{m.error?.message || 'The message was not delivered.'}</span>
          <button type="button" onClick={() => onRetry(m.id)}>Retry</button>
        </div>
      )}
    </li>
  );
});

function Thinking({ steps, active }) {
  const [open, setOpen] = useState(false);
  if (active) {
    return (
      <ol className="thinking thinking-active" data-testid="thinking" aria-label="Thinking">
        {steps.map((s, i) => (
          <li key={i} className={i === steps.length - 1 ? 'current' : 'done'}>
            {i === steps.length - 1 ? <span className="spinner" aria-hidden="true" /> : <span className="check" aria-hidden="true">✓</span>}
            {s}
          </li>
        ))}
      </ol>
    );
  }
  return (
    <div className="thinking" data-testid="thinking">
      <button type="button" className="thinking-toggle" aria-expanded={open} onClick={() => setOpen(!open)}>
        Thought in {steps.length} step{steps.length === 1 ? '' : 's'} <span aria-hidden="true">{open ? '▾' : '▸'}</span>
      </button>
      {open && <ol>{steps.map((s, i) => <li key={i}><span className="check" aria-hidden="true">✓</span>{s}</li>)}</ol>}
    </div>
  );
}

const TOOL_STATUS = { running: 'running', done: 'done', error: 'failed' };

/** "city: Berlin · lat: 52.52 …" for an object of plain values, else a short JSON. */
function summary(value) {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const plain = Object.entries(value).filter(([, v]) => v === null || typeof v !== 'object');
    if (plain.length) {
      const shown = plain.slice(0, 4).map(([k, v]) => ({ k, v: String(v) }));
      return { pairs: shown, more: Object.keys(value).length > shown.length };
    }
  }
  return { text: brief(value) };
}

function ToolCall({ call }) {
  const running = call.status === 'running';
  const s = call.status === 'done' ? summary(call.result) : null;
  return (
    <div className={`tool tool-${call.status}`} data-testid="tool-call" data-tool={call.name} data-status={call.status}>
      <div className="tool-head">
        <span className="tool-icon" aria-hidden="true">{running ? <span className="spinner" /> : '⚙'}</span>
        <span>{running ? 'Asking this device:' : 'Used this device:'} <code>{call.name}</code></span>
        <span className={`chip chip-tool-${call.status}`}>{TOOL_STATUS[call.status] ?? call.status}</span>
      </div>
      {s && (
        <div className="tool-result">
          {s.pairs
            ? s.pairs.map(({ k, v }) => <span key={k} className="kv"><span className="k">{k}</span> {v}</span>)
            : <code>{s.text}</code>}
          {s.more && <span className="kv k">…</span>}
        </div>
      )}
      {call.status === 'error' && <div className="tool-result tool-error">{call.error}</div>}
    </div>
  );
}

function AnalysisCard({ analysis: a, image }) {
  const url = image && thumbnails.get(image.id);
  return (
    <section className="card analysis" data-testid="analysis" aria-label={`Analysis of ${image?.filename ?? 'an image'}`}>
      <div className="analysis-head">
        {url ? <img src={url} alt="" /> : <span className="analysis-icon" aria-hidden="true">🖼</span>}
        <div>
          <h3>{image?.filename ?? 'Image'}</h3>
          <p className="analysis-tags">
            {a.category && <span className="chip">{a.category}</span>}
            {a.condition && <span className="chip">condition: {a.condition}</span>}
          </p>
        </div>
      </div>
      <p className="analysis-desc">{a.description}</p>
      {a.features?.length > 0 && (
        <div className="analysis-block"><h4>Features</h4><ul className="pills">{a.features.map((f, i) => <li key={i}>{f}</li>)}</ul></div>
      )}
      {a.recommendations?.length > 0 && (
        <div className="analysis-block"><h4>Recommendations</h4><ul>{a.recommendations.map((r, i) => <li key={i}>{r}</li>)}</ul></div>
      )}
    </section>
  );
}

function pages(c) {
  if (c.pageStart === undefined) return '';
  return c.pageEnd !== undefined && c.pageEnd !== c.pageStart ? `pp. ${c.pageStart}–${c.pageEnd}` : `p. ${c.pageStart}`;
}

function Citations({ list }) {
  return (
    <section className="citations" data-testid="citations" aria-label="Sources">
      <h4>Sources</h4>
      <ol>
        {list.map((c, i) => (
          <li key={`${c.documentId}/${c.chunkId}/${i}`} data-testid="citation">
            <span className="cite-n">{i + 1}</span>
            <span className="cite-file">{c.filename}</span>
            {pages(c) && <span className="cite-pages">{pages(c)}</span>}
            {typeof c.score === 'number' && <span className="cite-score" title="relevance">{Math.round(c.score * 100)}%</span>}
          </li>
        ))}
      </ol>
    </section>
  );
}

const ENDINGS = { cancelled: 'Stopped', failed: 'The reply failed' };

export const AssistantMessage = memo(function AssistantMessage({ message: m, images, onCancel, onSubmitComponent }) {
  const streaming = m.status === 'streaming';
  const byId = new Map((images ?? []).map((img) => [img.id, img]));
  return (
    <li className={`msg msg-assistant status-${m.status}`} data-testid="assistant-message" data-id={m.id} data-status={m.status}>
      <div className="avatar" aria-hidden="true">◆</div>
      <div className="turn">
        {m.thinking.length > 0 && <Thinking steps={m.thinking} active={streaming && !m.content} />}
        {m.toolCalls.map((t) => <ToolCall key={t.toolCallId} call={t} />)}
        {(m.content || (streaming && m.thinking.length === 0 && m.toolCalls.length === 0)) && (
          <div className="bubble" data-testid="reply">
            <div className="text">{m.content}{streaming && <span className="caret" aria-hidden="true" />}</div>
          </div>
        )}
        {m.imageAnalysis.map((a) => <AnalysisCard key={a.imageId} analysis={a} image={byId.get(a.imageId)} />)}
        {m.components.map((c) => <ComponentView key={c.componentId} entry={c} onSubmit={onSubmitComponent} />)}
        {m.citations.length > 0 && <Citations list={m.citations} />}
        <div className="meta">
          <time dateTime={m.createdAt}>{clock(m.createdAt)}</time>
          {ENDINGS[m.status] && <span className="ending">{ENDINGS[m.status]}</span>}
          {streaming && (
            <button type="button" className="link" onClick={() => onCancel(m.replyTo)}>Stop</button>
          )}
        </div>
      </div>
    </li>
  );
});
