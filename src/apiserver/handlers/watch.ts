// Watch streams: newline-delimited JSON events (ADDED, MODIFIED, DELETED, BOOKMARK), flushed one by
// one, with server-side Tables when asked, selector transitions as kube sends them, bookmarks,
// timeoutSeconds, and 410 Gone (as an ERROR event) when the revision is too old.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { StatusError, toStatusError } from '../../api/errors.ts';
import type { KObject } from '../../api/object.ts';
import type { ResourceInfo } from '../../api/resources.ts';
import { responseStyle, sendError } from '../http.ts';
import type { RegistryEvent } from '../registry/registry.ts';
import { type ResourceContext, selectorFilter, wantsTable } from './resource.ts';
import { checkListOptions } from './request-options.ts';

/**
 * The JSON line of a plain event, encoded once per (type, object) and shared by every watcher,
 * as kube-apiserver's watch cache does.
 */
const encoded = new WeakMap<KObject, Map<string, string>>();

function encodedEvent(type: string, obj: KObject): string {
  let byType = encoded.get(obj);
  if (!byType) encoded.set(obj, (byType = new Map()));
  let line = byType.get(type);
  if (line === undefined) {
    line = JSON.stringify({ type, object: obj }) + '\n';
    byType.set(type, line);
  }
  return line;
}

/** kube-apiserver ends a watch between --min-request-timeout (1800 s) and twice that. */
const defaultTimeoutSeconds = 1800;

export async function serveWatch(ctx: ResourceContext, req: IncomingMessage, res: ServerResponse, url: URL,
  r: ResourceInfo, apiVersion: string, namespace: string | undefined): Promise<void> {
  const style = responseStyle(req, url);
  let filter: ((o: KObject) => boolean) | undefined;
  const rvParam = url.searchParams.get('resourceVersion') ?? '';
  let fromRevision: number | undefined;
  try {
    checkListOptions(url, true);
    filter = selectorFilter(url, r, apiVersion);
    if (rvParam !== '' && rvParam !== '0') {
      fromRevision = Number(rvParam);
      if (!Number.isInteger(fromRevision) || fromRevision < 0) throw new StatusError(400, 'BadRequest', `invalid resource version: ${rvParam}`);
    }
  } catch (err) {
    sendError(res, err, style);
    return;
  }
  const table = wantsTable(req, url);
  const bookmarks = url.searchParams.get('allowWatchBookmarks') === 'true';
  const sendInitialEvents = url.searchParams.get('sendInitialEvents') === 'true';
  const timeoutParam = Number(url.searchParams.get('timeoutSeconds') ?? '');
  const timeoutSeconds = Number.isFinite(timeoutParam) && timeoutParam > 0 ? timeoutParam : defaultTimeoutSeconds * (1 + Math.random());

  res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked' });
  res.flushHeaders();
  let headerSent = false;
  let lastRevision = fromRevision ?? 0;
  const present = (o: KObject): KObject => (o.apiVersion === apiVersion ? o : ctx.machinery.convert(o, apiVersion));
  const write = (type: string, object: unknown) => {
    res.write(JSON.stringify({ type, object }) + '\n');
  };
  const emit = (type: string, obj: KObject) => {
    if (!table && obj.apiVersion === apiVersion) {
      res.write(encodedEvent(type, obj));
      return;
    }
    const o = present(obj);
    if (table) {
      const t = ctx.machinery.toTable([o], r.kind, {
        now: ctx.now(), resourceVersion: o.metadata.resourceVersion ?? '', includeObject: table.includeObject, includeHeader: !headerSent,
      }) as Record<string, unknown>;
      if (headerSent) t.columnDefinitions = null;
      headerSent = true;
      write(type, t);
    } else {
      write(type, o);
    }
  };
  const onEvent = (ev: RegistryEvent) => {
    lastRevision = ev.revision;
    if (!filter) { emit(ev.type, ev.object); return; }
    const now = filter(ev.object);
    const before = ev.prev !== undefined && ev.type !== 'ADDED' ? filter(ev.prev) : false;
    if (ev.type === 'DELETED') { if (before || now) emit('DELETED', ev.object); return; }
    if (now && before) emit('MODIFIED', ev.object);
    else if (now) emit('ADDED', ev.object);
    else if (before) emit('DELETED', ev.object);
  };
  const bookmark = (annotations?: Record<string, string>) => {
    const metadata: Record<string, unknown> = { resourceVersion: String(lastRevision || ctx.registry.store.currentRevision()), creationTimestamp: null };
    if (annotations) metadata.annotations = annotations;
    write('BOOKMARK', { kind: r.kind, apiVersion, metadata });
  };

  let watch: { stop(): void } | undefined;
  let timers: NodeJS.Timeout[] = [];
  const finish = () => {
    watch?.stop();
    watch = undefined;
    for (const t of timers) clearTimeout(t);
    timers = [];
    if (!res.writableEnded) res.end();
  };
  req.on('close', finish);
  res.on('close', finish);
  try {
    watch = await ctx.registry.watch(r, namespace, sendInitialEvents ? 0 : fromRevision, onEvent);
    if (sendInitialEvents) {
      lastRevision = ctx.registry.store.currentRevision();
      bookmark({ 'k8s.io/initial-events-end': 'true' });
    }
  } catch (err) {
    // kube reports a too-old revision as an ERROR event carrying the 410 Status.
    const se = toStatusError(err);
    write('ERROR', se.toStatus());
    finish();
    return;
  }
  if (res.writableEnded) { watch.stop(); return; }
  timers.push(setTimeout(finish, timeoutSeconds * 1000));
  if (bookmarks) {
    const tick = () => {
      if (res.writableEnded) return;
      bookmark();
      timers.push(setTimeout(tick, ctx.bookmarkIntervalMs));
    };
    timers.push(setTimeout(tick, ctx.bookmarkIntervalMs));
  }
}
