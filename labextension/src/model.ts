// A stand-in for the anywidget model that radnb/viewers/static/viewer.js talks to, backed by the
// radnb server extension's REST endpoints instead of a kernel comm. viewer.js only uses
// get / set / save_changes / on / off / send, and answers "load" with "msg:custom" chunks; this
// class gives it exactly that, so the notebook widget and the document viewer share one renderer.
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export type Listener = (...args: any[]) => void;

export interface IViewResponse {
  state: Record<string, any>;
  chunks: [number, number][];
  first: number;
  path: string;
  series: number;
  downsample: number;
  /** A preview's pixels, sent with its state (one image; nothing is fetched). */
  inline?: ArrayBuffer;
}

/** Error with the server's plain-language message (e.g. "notes.txt: not a DICOM file"). */
export class RadnbRequestError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly kind: string
  ) {
    super(message);
  }
}

/** GET one radnb endpoint with Jupyter's authentication (token header / cookie + XSRF). */
export async function requestApi(
  settings: ServerConnection.ISettings,
  endpoint: string,
  params: Record<string, string | number>,
  binary = false
): Promise<any> {
  const query = Object.entries(params)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
    .join('&');
  const url = URLExt.join(settings.baseUrl, 'radnb', 'api', endpoint) + '?' + query;
  const response = await ServerConnection.makeRequest(url, { method: 'GET' }, settings);
  if (!response.ok) {
    let message = `The radnb server extension answered ${response.status} ${response.statusText}.`;
    let kind = 'http';
    try {
      const body = await response.json();
      message = body.message || message;
      kind = body.error || kind;
    } catch {
      if (response.status === 404) {
        message =
          'The radnb server extension is not running in this Jupyter server. ' +
          'Enable it with: jupyter server extension enable radnb.serverext (then restart Jupyter).';
      }
    }
    throw new RadnbRequestError(message, response.status, kind);
  }
  return binary ? response.arrayBuffer() : response.json();
}

export class RestViewerModel {
  private listeners = new Map<string, Set<Listener>>();
  private state: Record<string, any>;
  private dirty = new Set<string>();
  private disposed = false;
  /** Milliseconds from the first request to each chunk's arrival (benchmarks read it). */
  readonly timings: { chunk: [number, number, number][] } = { chunk: [] };

  constructor(
    private settings: ServerConnection.ISettings,
    private view: IViewResponse,
    private onError: (err: Error) => void
  ) {
    this.state = { ...view.state };
  }

  get(key: string): any {
    return this.state[key];
  }

  set(key: string | Record<string, any>, value?: any): void {
    const changes = typeof key === 'string' ? { [key]: value } : key;
    for (const [k, v] of Object.entries(changes)) {
      this.state[k] = v;
      this.dirty.add(k);
    }
  }

  save_changes(): void {
    // only the identifying-values toggle needs the server: the header it shows comes from there
    if (this.dirty.has('show_phi') && !this.view.inline) {
      void this.fetchHeader(Boolean(this.state.show_phi));
    }
    this.dirty.clear();
  }

  on(event: string, fn: Listener): void {
    if (!this.listeners.has(event)) {
      this.listeners.set(event, new Set());
    }
    this.listeners.get(event)!.add(fn);
  }

  off(event: string, fn: Listener): void {
    this.listeners.get(event)?.delete(fn);
  }

  send(msg: any): void {
    if (msg && msg.type === 'load') {
      void this.stream(msg.rid, Number(msg.first));
    }
  }

  dispose(): void {
    this.disposed = true;
    this.listeners.clear();
  }

  private emit(event: string, ...args: any[]): void {
    for (const fn of Array.from(this.listeners.get(event) || [])) {
      fn(...args);
    }
  }

  private params(): Record<string, string | number> {
    return { path: this.view.path, series: this.view.series };
  }

  private async fetchHeader(showPhi: boolean): Promise<void> {
    try {
      const body = await requestApi(this.settings, 'header', { ...this.params(), show_phi: showPhi ? 1 : 0 });
      this.state._header = body.header;
      this.emit('change:_header');
    } catch (err) {
      this.onError(err as Error);
    }
  }

  // The slice on screen first, then chunks outward from it (the order the server planned, as the
  // notebook widget's kernel side sends them); two requests in flight keep the pipe full.
  private async stream(rid: string, first: number): Promise<void> {
    const t0 = performance.now();
    if (this.view.inline) {
      const z = this.state._shape[0];
      this.emit('msg:custom', { type: 'chunk', rid, layer: 0, z0: 0, z1: z, last: true }, [this.view.inline]);
      return;
    }
    let plan = this.view.chunks;
    if (first !== this.view.first) {
      plan = (await requestApi(this.settings, 'view', { ...this.params(), first })).chunks;
    }
    const layers: any[] = this.state._layers;
    const jobs: { layer: number; z0: number; z1: number; last: boolean }[] = [];
    plan.forEach(([z0, z1], k) => {
      layers.forEach((_l, layer) => jobs.push({ layer, z0, z1, last: k === plan.length - 1 }));
    });
    const fetchOne = async (job: { layer: number; z0: number; z1: number; last: boolean }) => {
      try {
        const buffer = await requestApi(
          this.settings,
          'pixels',
          { ...this.params(), layer: job.layer, z0: job.z0, z1: job.z1 },
          true
        );
        if (this.disposed) {
          return false;
        }
        this.timings.chunk.push([job.z0, job.z1, performance.now() - t0]);
        this.emit('msg:custom', { type: 'chunk', rid, layer: job.layer, z0: job.z0, z1: job.z1, last: job.last }, [
          buffer
        ]);
        return true;
      } catch (err) {
        this.onError(err as Error);
        return false;
      }
    };
    // the slice on screen alone (first paint), then the rest two requests at a time
    const firstLayers = jobs.filter(j => j.z0 === plan[0][0]);
    const ok = await Promise.all(firstLayers.map(fetchOne));
    if (ok.includes(false)) {
      return;
    }
    let next = firstLayers.length;
    const worker = async () => {
      while (next < jobs.length && !this.disposed) {
        if (!(await fetchOne(jobs[next++]))) {
          return;
        }
      }
    };
    await Promise.all([worker(), worker()]);
  }
}
