// The baseline for fan-out: a bare Socket.IO server that broadcasts a payload to every client when
// asked over HTTP, with no database, authentication or audience rules.
import { createServer } from 'node:http';
import { Server } from 'socket.io';

const http = createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/broadcast') {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      io.emit('event', JSON.parse(body));
      res.end('{}');
    });
    return;
  }
  res.statusCode = 404;
  res.end();
});
const io = new Server(http, { serveClient: false });
http.listen(0, '127.0.0.1', () => {
  const address = http.address();
  process.stdout.write(`running at http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}\n`);
});
