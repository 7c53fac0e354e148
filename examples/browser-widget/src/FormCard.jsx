// Components the server sends with a reply (`reply.component(kind, props)`).
// 'form' is rendered as a real form; submitting it sends a `component_action`
// (client.submitComponent). Which forms were submitted is remembered in
// localStorage, so a reload does not offer the same form again.
//
// form props: { title?, description?, submitLabel?, fields: [{ name, label?,
//   type?: text|number|email|tel|date|time|textarea|select|radio|checkbox,
//   options?: (string | { value, label })[], required?, placeholder?, value? }] }
import { useId, useState } from 'react';

const SUBMITTED = 'chatwire-demo:submitted:';

function remembered(componentId) {
  try {
    const v = localStorage.getItem(SUBMITTED + componentId);
    return v ? JSON.parse(v) : null;
  } catch {
    return null;
  }
}

function options(field) {
  return (field.options ?? []).map((o) => (typeof o === 'object' && o !== null
    ? { value: String(o.value ?? o.label), label: String(o.label ?? o.value) }
    : { value: String(o), label: String(o) }));
}

function initialValues(fields) {
  const values = {};
  for (const f of fields) {
    if (f.type === 'checkbox') values[f.name] = Boolean(f.value ?? f.default ?? false);
    else if ((f.type === 'select' || f.type === 'radio') && f.value === undefined && f.default === undefined) values[f.name] = options(f)[0]?.value ?? '';
    else values[f.name] = f.value ?? f.default ?? '';
  }
  return values;
}

function Field({ field, value, onChange, disabled, idBase }) {
  const id = `${idBase}-${field.name}`;
  const label = field.label ?? field.name;
  const common = { id, name: field.name, disabled, required: Boolean(field.required) };
  if (field.type === 'checkbox') {
    return (
      <label className="field field-check" htmlFor={id}>
        <input type="checkbox" {...common} checked={Boolean(value)} onChange={(e) => onChange(e.target.checked)} />
        <span>{label}</span>
      </label>
    );
  }
  if (field.type === 'radio') {
    return (
      <fieldset className="field" disabled={disabled}>
        <legend>{label}</legend>
        <div className="radios">
          {options(field).map((o) => (
            <label key={o.value}>
              <input type="radio" name={id} value={o.value} checked={value === o.value} onChange={() => onChange(o.value)} /> {o.label}
            </label>
          ))}
        </div>
      </fieldset>
    );
  }
  let input;
  if (field.type === 'select') {
    input = (
      <select {...common} value={value} onChange={(e) => onChange(e.target.value)}>
        {options(field).map((o) => <option key={o.value} value={o.value}>{o.label}</option>)}
      </select>
    );
  } else if (field.type === 'textarea') {
    input = <textarea {...common} rows={3} placeholder={field.placeholder} value={value} onChange={(e) => onChange(e.target.value)} />;
  } else {
    const type = ['number', 'email', 'tel', 'date', 'time', 'url'].includes(field.type) ? field.type : 'text';
    input = (
      <input {...common} type={type} placeholder={field.placeholder} value={value}
        min={field.min} max={field.max} onChange={(e) => onChange(type === 'number' && e.target.value !== '' ? Number(e.target.value) : e.target.value)} />
    );
  }
  return (
    <div className="field">
      <label htmlFor={id}>{label}{field.required && <span className="req" aria-hidden="true"> *</span>}</label>
      {input}
    </div>
  );
}

function FormCard({ entry, onSubmit }) {
  const props = entry.props ?? {};
  const fields = Array.isArray(props.fields) ? props.fields.filter((f) => f && typeof f.name === 'string') : [];
  const [values, setValues] = useState(() => remembered(entry.componentId) ?? initialValues(fields));
  const [state, setState] = useState(() => (remembered(entry.componentId) ? 'sent' : 'idle'));
  const [problem, setProblem] = useState('');
  const idBase = useId();
  const done = state === 'sent';

  async function submit(e) {
    e.preventDefault();
    setState('sending');
    setProblem('');
    try {
      const sent = await onSubmit(entry.componentId, 'submit', values);
      if (sent) {
        try { localStorage.setItem(SUBMITTED + entry.componentId, JSON.stringify(values)); } catch { /* private mode */ }
        setState('sent');
      } else {
        setState('idle');
        setProblem('You are offline: submit again once the chat is back online.');
      }
    } catch (err) {
      setState('idle');
      setProblem(err?.message ?? String(err));
    }
  }

  return (
    <form className={`card form-card ${done ? 'is-done' : ''}`} data-testid="component-form" data-state={state}
      onSubmit={submit} aria-label={props.title ?? 'Form'}>
      {props.title && <h3>{props.title}</h3>}
      {props.description && <p className="form-desc">{props.description}</p>}
      {fields.map((f) => (
        <Field key={f.name} field={f} idBase={idBase} value={values[f.name] ?? ''} disabled={done || state === 'sending'}
          onChange={(v) => setValues((prev) => ({ ...prev, [f.name]: v }))} />
      ))}
      {problem && <p className="form-problem" role="alert">{problem}</p>}
      <div className="form-actions">
        {done
          ? <span className="form-done" data-testid="form-done">✓ Submitted</span>
          : <button type="submit" className="primary" disabled={state === 'sending'}>{props.submitLabel ?? 'Submit'}</button>}
      </div>
    </form>
  );
}

export function ComponentView({ entry, onSubmit }) {
  if (entry.component === 'form') return <FormCard entry={entry} onSubmit={onSubmit} />;
  return (
    <div className="card" data-testid="component-unknown">
      <h3>{entry.component}</h3>
      <pre className="json">{JSON.stringify(entry.props, null, 2)}</pre>
    </div>
  );
}
