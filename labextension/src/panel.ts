// The radnb viewer as a JupyterLab document / main-area widget: series list for a folder, a button
// copying the notebook code for the same view, and the viewer itself, drawn by the ES module the
// notebook widget runs (radnb/viewers/static/viewer.js, served by the radnb server extension).
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { Widget } from '@lumino/widgets';

import { IViewResponse, RadnbRequestError, requestApi, RestViewerModel } from './model';

interface ISeriesEntry {
  index: number;
  modality: string;
  description: string;
  series_number: string;
  count: number;
  shape: number[];
  kind: string;
  file: string;
}

interface ISeriesResponse {
  path: string;
  is_folder: boolean;
  series: ISeriesEntry[];
  errors: { file: string; reason: string }[];
  skipped: string[];
}

let viewerModule: Promise<any> | null = null;

/** The viewer's ES module, loaded once from the server (the file anywidget runs in a notebook). */
function loadViewerModule(settings: ServerConnection.ISettings): Promise<any> {
  if (!viewerModule) {
    const base = URLExt.join(settings.baseUrl, 'radnb', 'static');
    if (!document.querySelector('link[data-radnb-viewer-css]')) {
      const link = document.createElement('link');
      link.rel = 'stylesheet';
      link.href = URLExt.join(base, 'viewer.css');
      link.setAttribute('data-radnb-viewer-css', '');
      document.head.appendChild(link);
    }
    viewerModule = import(/* webpackIgnore: true */ URLExt.join(base, 'viewer.js')).catch(err => {
      viewerModule = null;
      throw new Error(
        'Could not load the radnb viewer script from the server (' +
          String(err) +
          '). Is the radnb server extension enabled? (jupyter server extension list)'
      );
    });
  }
  return viewerModule;
}

/** Python that opens the same view in a notebook (paths are relative to the Jupyter root folder). */
export function notebookCode(path: string, series: number, nSeries: number): string {
  const quoted = JSON.stringify(path || '.');
  if (nSeries > 1) {
    return `import radnb\nradnb.show(radnb.load(${quoted})[${series}])`;
  }
  return `import radnb\nradnb.show(${quoted})`;
}

export class RadnbViewerPanel extends Widget {
  readonly path: string;
  private settings: ServerConnection.ISettings;
  private bar: HTMLElement;
  private seriesBox: HTMLElement;
  private viewerBox: HTMLElement;
  private messageBox: HTMLElement;
  private copyButton: HTMLButtonElement;
  private cleanup: (() => void) | null = null;
  private model: RestViewerModel | null = null;
  private series: ISeriesResponse | null = null;
  private current = -1;
  private resizeObserver: ResizeObserver;
  /** Resolves when the first series is on screen (or a message is shown instead). */
  readonly ready: Promise<void>;

  constructor(path: string, settings?: ServerConnection.ISettings) {
    super();
    this.path = path;
    this.settings = settings ?? ServerConnection.makeSettings();
    this.addClass('jp-RadnbViewer');
    this.title.label = path.split('/').filter(Boolean).pop() || 'radnb viewer';
    this.title.caption = `radnb viewer: ${path || '(Jupyter root folder)'}`;
    this.bar = document.createElement('div');
    this.bar.className = 'jp-RadnbViewer-bar';
    this.copyButton = document.createElement('button');
    this.copyButton.className = 'jp-RadnbViewer-copy';
    this.copyButton.type = 'button';
    this.copyButton.textContent = 'Copy radnb.show(…)';
    this.copyButton.title = 'Copy the Python that opens this view in a notebook';
    this.copyButton.addEventListener('click', () => void this.copyCode());
    const label = document.createElement('span');
    label.className = 'jp-RadnbViewer-path';
    label.textContent = path || '(Jupyter root folder)';
    this.bar.append(label, this.copyButton);
    this.messageBox = document.createElement('div');
    this.messageBox.className = 'jp-RadnbViewer-message';
    this.messageBox.hidden = true;
    const body = document.createElement('div');
    body.className = 'jp-RadnbViewer-body';
    this.seriesBox = document.createElement('div');
    this.seriesBox.className = 'jp-RadnbViewer-series';
    this.seriesBox.hidden = true;
    this.viewerBox = document.createElement('div');
    this.viewerBox.className = 'jp-RadnbViewer-view';
    body.append(this.seriesBox, this.viewerBox);
    this.node.append(this.bar, this.messageBox, body);
    this.resizeObserver = new ResizeObserver(() => this.fitHeight());
    this.resizeObserver.observe(this.viewerBox);
    this.ready = this.start();
  }

  /** The code the copy button puts on the clipboard. */
  get code(): string {
    const n = this.series ? this.series.series.length : 1;
    return notebookCode(this.path, Math.max(this.current, 0), n);
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.resizeObserver.disconnect();
    this.closeViewer();
    super.dispose();
  }

  private async start(): Promise<void> {
    this.showMessage('Reading DICOM on the server…', 'info');
    const series = requestApi(this.settings, 'series', { path: this.path });
    // a folder not read yet: one of its images on screen while the server reads them all
    void requestApi(this.settings, 'preview', { path: this.path })
      .then(preview => this.showPreview(preview))
      .catch(() => undefined);
    try {
      this.series = (await series) as ISeriesResponse;
    } catch (err) {
      this.closeViewer();
      this.showError(err as Error);
      return;
    }
    this.renderSeriesList();
    const items = this.series.series;
    // the largest series first, as radnb.show(folder) does
    let best = 0;
    items.forEach((s, k) => {
      if (s.shape.reduce((a, b) => a * b, 1) > items[best].shape.reduce((a, b) => a * b, 1)) {
        best = k;
      }
    });
    await this.openSeries(best);
  }

  async openSeries(index: number): Promise<void> {
    this.current = index;
    for (const item of Array.from(this.seriesBox.querySelectorAll('.jp-RadnbViewer-seriesItem'))) {
      item.classList.toggle('jp-mod-selected', (item as HTMLElement).dataset.index === String(index));
    }
    if (this.node.dataset.ready !== 'preview') {
      this.closeViewer(); // (a preview stays on screen until the study replaces it)
      this.showMessage('Loading the series…', 'info');
    }
    let view: IViewResponse;
    let mod: any;
    try {
      [view, mod] = await Promise.all([
        requestApi(this.settings, 'view', { path: this.path, series: index }) as Promise<IViewResponse>,
        loadViewerModule(this.settings)
      ]);
    } catch (err) {
      this.showError(err as Error);
      return;
    }
    if (this.isDisposed || this.current !== index) {
      return;
    }
    this.hideMessage();
    this.renderViewer(mod, view);
    this.node.dataset.series = String(index);
    this.node.dataset.ready = 'true';
  }

  private renderViewer(mod: any, view: IViewResponse): void {
    this.closeViewer();
    view.state._height = this.availableHeight();
    this.model = new RestViewerModel(this.settings, view, err => this.showError(err));
    const el = document.createElement('div');
    this.viewerBox.replaceChildren(el);
    const render = (mod.default && mod.default.render) || mod.render;
    const cleanup = render({ model: this.model, el });
    this.cleanup = typeof cleanup === 'function' ? cleanup : null;
  }

  private async showPreview(preview: any): Promise<void> {
    if (!preview || !preview.preview) {
      return;
    }
    const mod = await loadViewerModule(this.settings);
    if (this.isDisposed || this.series) {
      return; // the study arrived first
    }
    const raw = atob(preview.pixels);
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) {
      bytes[i] = raw.charCodeAt(i);
    }
    this.hideMessage();
    this.renderViewer(mod, {
      state: preview.state,
      chunks: [[0, preview.state._shape[0]]],
      first: preview.state.position[0],
      path: this.path,
      series: -1,
      downsample: 1,
      inline: bytes.buffer
    });
    this.node.dataset.ready = 'preview';
  }

  private closeViewer(): void {
    if (this.cleanup) {
      this.cleanup();
    }
    this.cleanup = null;
    this.model?.dispose();
    this.model = null;
    this.viewerBox.replaceChildren();
  }

  private renderSeriesList(): void {
    const s = this.series!;
    const several = s.series.length > 1;
    this.seriesBox.replaceChildren();
    this.seriesBox.hidden = !(several || s.errors.length || s.is_folder);
    const heading = document.createElement('div');
    heading.className = 'jp-RadnbViewer-heading';
    heading.textContent = `${s.series.length} series`;
    this.seriesBox.appendChild(heading);
    for (const item of s.series) {
      const row = document.createElement('button');
      row.type = 'button';
      row.className = 'jp-RadnbViewer-seriesItem';
      row.dataset.index = String(item.index);
      const what = item.kind === 'volume' ? `${item.count} images` : `image ${item.shape.slice(-2).join('×')}`;
      const number = item.series_number ? `#${item.series_number} ` : '';
      row.textContent = `${item.modality || '?'} ${number}· ${what}`;
      if (item.description) {
        const d = document.createElement('div');
        d.className = 'jp-RadnbViewer-desc';
        d.textContent = item.description === '(hidden)' ? 'description hidden (may identify)' : item.description;
        row.appendChild(d);
      }
      row.title = item.file;
      row.addEventListener('click', () => void this.openSeries(item.index));
      this.seriesBox.appendChild(row);
    }
    if (s.errors.length) {
      const h = document.createElement('div');
      h.className = 'jp-RadnbViewer-heading jp-RadnbViewer-errorsHeading';
      h.textContent = `${s.errors.length} file(s) not loaded`;
      this.seriesBox.appendChild(h);
      for (const e of s.errors) {
        const row = document.createElement('div');
        row.className = 'jp-RadnbViewer-error';
        row.textContent = `${e.file}: ${e.reason}`;
        this.seriesBox.appendChild(row);
      }
    }
  }

  private async copyCode(): Promise<void> {
    const text = this.code;
    this.node.dataset.copied = text;
    try {
      await navigator.clipboard.writeText(text);
      this.copyButton.textContent = 'Copied ✓';
    } catch {
      // clipboard refused (insecure context): show the code so it can be copied by hand
      this.showMessage(`Copy this into a notebook cell:\n${text}`, 'info');
    }
    setTimeout(() => (this.copyButton.textContent = 'Copy radnb.show(…)'), 1500);
  }

  private availableHeight(): number {
    // the viewer's own toolbar, slider and status lines take about 110 px
    const h = this.viewerBox.clientHeight || this.node.clientHeight - 40;
    return Math.max(240, Math.round(h - 110));
  }

  private fitHeight(): void {
    const root = this.viewerBox.querySelector('.radnb-viewer') as HTMLElement | null;
    if (root) {
      root.style.setProperty('--radnb-height', `${this.availableHeight()}px`);
    }
  }

  private showMessage(text: string, kind: 'info' | 'error'): void {
    this.messageBox.hidden = false;
    this.messageBox.textContent = text;
    this.messageBox.className = `jp-RadnbViewer-message jp-RadnbViewer-${kind}`;
  }

  private hideMessage(): void {
    this.messageBox.hidden = true;
  }

  private showError(err: Error): void {
    let text = err.message || String(err);
    if (err instanceof RadnbRequestError && err.kind === 'NotDicomError') {
      text += '\nThe radnb viewer opens DICOM files (.dcm or files without an extension) and folders of them.';
    }
    this.showMessage(text, 'error');
    this.copyButton.hidden = !this.model; // nothing on screen: no code to copy
    this.node.dataset.ready = 'error';
  }
}
