import http from 'node:http';
import { ProxyServer } from './src/ingress/proxy-server.ts';
import { translate } from './src/ingress/translate.ts';
import { makeIngress, makeService, makeSlice, path, rule } from './src/ingress/test-builders.ts';
const backend = http.createServer((req, res) => { res.setHeader('x-path', req.url!); res.end(JSON.stringify(req.headers)); });
await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
const bport = (backend.address() as any).port;
const table = translate({ ingresses: [makeIngress('default', 'a', (i) => { i.spec!.rules = [rule('foo.com', path('/', 'svc', 80))]; })], ingressClasses: [], services: [makeService('default', 'svc')], endpointSlices: [makeSlice('default', 'svc', ['127.0.0.1'], [{ port: bport }])], secrets: [] });
console.log(JSON.stringify(table.problems));
const p = new ProxyServer({ httpPort: 0, httpsPort: 0, bindAddress: '127.0.0.1' });
await p.start(); await p.setRoutes(table);
console.log('ports', p.httpPort, p.httpsPort, bport);
if (process.argv[2] === 'serve') { await new Promise(() => {}); }
for (const host of ['foo.com', 'bar.com']) {
  const r = await fetch(`http://127.0.0.1:${p.httpPort}/x?y=1`, { headers: { host } });
  console.log(r.status, r.headers.get('x-path'), (await r.text()).slice(0, 400));
}
await p.stop(); backend.close();
