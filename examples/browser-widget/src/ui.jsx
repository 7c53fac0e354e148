// React side of the boot (main.jsx loads it while the WASM module compiles).
import { createRoot } from 'react-dom/client';
import { App } from './App.jsx';

let root;
const getRoot = () => (root ??= createRoot(document.getElementById('root')));

export function mount({ client, store, settings }) {
  getRoot().render(<App client={client} store={store} settings={settings} />);
}

export function fail(err) {
  getRoot().render(
    <div className="boot boot-error" role="alert">
      <strong>The chat could not start.</strong>
      <p>{String(err?.message ?? err)}</p>
    </div>,
  );
}
