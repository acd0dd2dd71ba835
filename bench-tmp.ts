import { ProxyServer } from './src/ingress/proxy-server.ts';
import { translate } from './src/ingress/translate.ts';
import { makeIngress, makeService, makeSlice, path, rule } from './src/ingress/test-builders.ts';
const table = translate({ ingresses: [makeIngress('default', 'a', (i) => { i.spec!.rules = [rule('foo.com', path('/', 'svc', 80))]; })], ingressClasses: [], services: [makeService('default', 'svc')], endpointSlices: [makeSlice('default', 'svc', ['127.0.0.1'], [{ port: 18080 }])], secrets: [] });
const p = new ProxyServer({ httpPort: 18082, httpsPort: 18443, bindAddress: '127.0.0.1' });
await p.start(); await p.setRoutes(table);
console.log('ready');

process.on('SIGINT', () => process.exit(0));
