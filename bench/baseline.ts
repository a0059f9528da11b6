/**
 * The baseline: a bare Fastify server whose handler only parses the same JSON
 * body allot's POST /v1/usage receives and answers. Run as a child process by
 * the benchmark; prints its address on stdout once listening.
 */
import Fastify from 'fastify';

const app = Fastify({ logger: false });
app.post('/v1/usage', async (request) => {
  const body = request.body as { event_id?: unknown };
  return { event_id: body.event_id, recorded: true };
});

const address = await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) });
process.stdout.write(`${address}\n`);
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
