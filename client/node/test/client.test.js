'use strict';
// Tests of poolcat-client, run with `node --test test/client.test.js`.
//
// "against a fake server" checks what the client puts on the wire and how it
// reads replies, with an in-process grpc-js server that records requests and
// echoes the input. "against poolcat-server" replays the seed notebook's
// examples (shared/seeds/000_03731dc8b5fa7a4c.txt) through the real server
// whose address is in POOLCAT_TARGET (tests/clients/with_server.py sets it),
// over TLS when POOLCAT_TLS_CA (and for mutual TLS POOLCAT_TLS_CLIENT_CERT /
// _KEY) name certificates; without POOLCAT_TARGET, that part is skipped.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { after, before, describe, test } = require('node:test');

const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const { Client, PoolcatError } = require('../src/index.js');

const TARGET = process.env.POOLCAT_TARGET;
const PROTO_DIR = process.env.POOLCAT_PROTO_DIR || path.resolve(__dirname, '..', '..', '..', 'proto');

// TLS credentials when with_server.py --tls made certificates, else undefined.
function credentialsFromEnv() {
  const read = (name) => (process.env[name] ? fs.readFileSync(process.env[name]) : null);
  const ca = read('POOLCAT_TLS_CA');
  if (!ca) return undefined;
  return grpc.credentials.createSsl(ca, read('POOLCAT_TLS_CLIENT_KEY'), read('POOLCAT_TLS_CLIENT_CERT'));
}

function arange4x4() {
  return { data: Float32Array.from({ length: 16 }, (_, i) => i), shape: [1, 1, 4, 4] };
}

async function rejectsWith(promise, codeName, pattern) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof PoolcatError, `not a PoolcatError: ${err}`);
    assert.equal(err.codeName, codeName, err.message);
    assert.equal(err.code, grpc.status[codeName]);
    if (pattern) assert.match(err.details, pattern);
    return true;
  });
}

describe('against a fake server', () => {
  let server;
  let client;
  const seen = [];
  let failWith = null;

  before(async () => {
    const definition = protoLoader.loadSync('poolcat/v1/poolcat.proto', {
      keepCase: true, longs: Number, enums: String, defaults: false, oneofs: true,
      includeDirs: [PROTO_DIR],
    });
    const { PoolCat } = grpc.loadPackageDefinition(definition).poolcat.v1;
    const answer = (reply) => (call, callback) => {
      seen.push(call.request);
      if (failWith) callback({ code: failWith.code, details: failWith.details });
      else callback(null, reply(call.request));
    };
    server = new grpc.Server();
    server.addService(PoolCat.service, {
      Pool: answer((r) => ({
        output: r.input,
        indices: r.return_indices ? {
          dtype: 'DTYPE_INT64',
          shape: r.input.shape,
          data: Buffer.from(BigInt64Array.from({ length: r.input.shape.reduce((a, b) => a * b, 1) },
            (_, i) => BigInt(i)).buffer),
        } : undefined,
      })),
      Concat: answer((r) => ({ output: r.tensors[r.tensors.length - 1] })),
      Echo: answer((r) => ({ tensor: r.tensor })),
    });
    const port = await new Promise((resolve, reject) => {
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(),
        (err, p) => (err ? reject(err) : resolve(p)));
    });
    client = new Client({ target: `127.0.0.1:${port}`, timeoutMs: 30000 });
  });

  after(() => {
    client.close();
    server.forceShutdown();
  });

  function last() {
    assert.equal(seen.length, 1);
    return seen.pop();
  }

  test('defaults leave optional fields empty', async () => {
    await client.pool('max_pool2d', arange4x4(), { kernelSize: 3 });
    const r = last();
    assert.equal(r.op, 'max_pool2d');
    assert.deepEqual(r.kernel_size, [3]);
    for (const f of ['stride', 'padding', 'dilation', 'output_size']) assert.deepEqual(r[f] || [], [], f);
    for (const f of ['count_include_pad', 'divisor_override', 'norm_type']) assert.equal(r[f], undefined, f);
    assert.ok(!r.ceil_mode && !r.channels_last && !r.return_indices);
  });

  test('every option reaches the wire', async () => {
    await client.pool('avg_pool2d', { data: new Float32Array(24), shape: [2, 3, 4] }, {
      kernelSize: [2, 3], stride: [1, 2], padding: [0, 1], dilation: 2, ceilMode: true,
      countIncludePad: false, divisorOverride: 5n, normType: 2, channelsLast: true,
    });
    const r = last();
    assert.deepEqual(r.kernel_size, [2, 3]);
    assert.deepEqual(r.stride, [1, 2]);
    assert.deepEqual(r.padding, [0, 1]);
    assert.deepEqual(r.dilation, [2]);
    assert.equal(r.count_include_pad, false);
    assert.equal(r.divisor_override, 5);
    assert.equal(r.norm_type, 2);
    assert.ok(r.ceil_mode && r.channels_last);
  });

  test('null in outputSize means keep that dimension', async () => {
    await client.pool('adaptive_avg_pool2d', { data: new Float32Array(35), shape: [1, 5, 7] },
      { outputSize: [null, 3] });
    assert.deepEqual(last().output_size, [-1, 3]);
  });

  test('every dtype round trips with its typed array', async () => {
    const cases = [
      ['float32', Float32Array.of(-1.5, 0, 2.25, 3, 4, 5)],
      ['float64', Float64Array.of(-1.5, 0, 2.25, 3, 4, 5)],
      ['float16', Uint16Array.of(0x3c00, 0xbc00, 0, 1, 2, 3)],
      ['bfloat16', Uint16Array.of(0x3f80, 0xbf80, 0, 1, 2, 3)],
      ['int8', Int8Array.of(-128, -1, 0, 1, 2, 127)],
      ['uint8', Uint8Array.of(0, 1, 2, 128, 254, 255)],
      ['int16', Int16Array.of(-32768, -1, 0, 1, 2, 32767)],
      ['int32', Int32Array.of(-(2 ** 31), -1, 0, 1, 2, 2 ** 31 - 1)],
      ['int64', BigInt64Array.of(-(2n ** 63n), -1n, 0n, 1n, 2n, 2n ** 63n - 1n)],
      ['bool', Uint8Array.of(0, 1, 1, 0, 0, 1)],
    ];
    for (const [dtype, data] of cases) {
      const out = await client.pool('max_pool1d', { data, shape: [1, 2, 3], dtype }, { kernelSize: 1 });
      const r = last();
      assert.equal(r.input.dtype, `DTYPE_${dtype.toUpperCase()}`);
      assert.equal(Buffer.compare(r.input.data, Buffer.from(data.buffer)), 0, dtype);
      assert.equal(out.dtype, dtype);
      assert.deepEqual(out.shape, [1, 2, 3]);
      assert.deepEqual(out.data, data, dtype);
    }
  });

  test('plain arrays are accepted with an explicit dtype', async () => {
    const out = await client.concat([{ data: [1, 2, 3], shape: [3], dtype: 'int64' }]);
    assert.equal(last().tensors[0].dtype, 'DTYPE_INT64');
    assert.deepEqual(out.data, BigInt64Array.of(1n, 2n, 3n));
  });

  test('subarray views send only their own elements', async () => {
    const whole = Float32Array.of(9, 1, 2, 3, 9);
    const out = await client.concat([{ data: whole.subarray(1, 4), shape: [3] }], -1);
    const r = last();
    assert.equal(r.dim, -1);
    assert.deepEqual(out.data, Float32Array.of(1, 2, 3));
  });

  test('return_indices resolves to output and int64 indices', async () => {
    const { output, indices } = await client.pool('max_pool2d',
      { data: new Float32Array(4), shape: [1, 2, 2] }, { kernelSize: 1, returnIndices: true });
    assert.equal(last().return_indices, true);
    assert.deepEqual(output.shape, [1, 2, 2]);
    assert.equal(indices.dtype, 'int64');
    assert.deepEqual(indices.data, BigInt64Array.of(0n, 1n, 2n, 3n));
  });

  test('server status rejects with PoolcatError carrying code and message', async () => {
    failWith = { code: grpc.status.INVALID_ARGUMENT, details: 'pool.kernel_size must be > 0, got 0' };
    try {
      await rejectsWith(client.pool('max_pool2d', arange4x4(), { kernelSize: 0 }),
        'INVALID_ARGUMENT', /^pool\.kernel_size must be > 0, got 0$/);
    } finally {
      failWith = null;
      seen.length = 0;
    }
  });

  test('bad tensors are refused before sending', async () => {
    const bad = [
      [{ data: new Float32Array(3), shape: [2, 2] }, /tensors\[0\]\.shape \[2,2\] holds 4 elements but tensors\[0\]\.data has 3/],
      [{ data: new Uint16Array(2), shape: [2] }, /tensors\[0\]\.dtype is required for Uint16Array/],
      [{ data: new Float32Array(2), shape: [2], dtype: 'complex64' }, /unsupported dtype "complex64"/],
      [{ data: new Float64Array(2), shape: [2], dtype: 'float32' }, /must be a Float32Array for dtype float32, got Float64Array/],
      [{ data: new Float32Array(2), shape: [2.5] }, /shape must be an array of non-negative integers/],
    ];
    for (const [tensor, pattern] of bad) {
      await rejectsWith(client.concat([tensor]), 'INVALID_ARGUMENT', pattern);
    }
    await rejectsWith(client.pool('max_pool2d', arange4x4(), { kernelSize: [2, 1.5] }),
      'INVALID_ARGUMENT', /^kernelSize\[1\] must be an integer, got 1.5$/);
    await rejectsWith(client.concat([arange4x4()], '1'), 'INVALID_ARGUMENT', /^dim must be an integer/);
    assert.equal(seen.length, 0);
  });

  test('unreachable server rejects with UNAVAILABLE or DEADLINE_EXCEEDED', async () => {
    // Port 1 on loopback: nothing listens there, nothing leaves the host.
    const nowhere = new Client({ target: '127.0.0.1:1', timeoutMs: 5000 });
    try {
      await assert.rejects(nowhere.health(), (err) => {
        assert.ok(['UNAVAILABLE', 'DEADLINE_EXCEEDED'].includes(err.codeName), err.message);
        return true;
      });
    } finally {
      nowhere.close();
    }
  });
});

describe('against poolcat-server', { skip: !TARGET && 'POOLCAT_TARGET not set (run via tests/clients/with_server.py)' }, () => {
  let client;
  before(() => {
    client = new Client({ target: TARGET, timeoutMs: 60000, credentials: credentialsFromEnv() });
  });
  after(() => client.close());

  test('server is serving', async () => {
    assert.equal(await client.health(), 'SERVING');
  });

  test('max_pool2d k=3 on the 4x4 arange is 10', async () => {
    const out = await client.pool('max_pool2d', arange4x4(), { kernelSize: 3 });
    assert.deepEqual(out, { data: Float32Array.of(10), shape: [1, 1, 1, 1], dtype: 'float32' });
  });

  test('max_pool2d k=3 padding=1 stride=2', async () => {
    const out = await client.pool('max_pool2d', arange4x4(), { kernelSize: 3, padding: 1, stride: 2 });
    assert.deepEqual(out.shape, [1, 1, 2, 2]);
    assert.deepEqual(out.data, Float32Array.of(5, 7, 13, 15));
  });

  test('max_pool2d k=(2,3) stride=(2,3) padding=(0,1)', async () => {
    const out = await client.pool('max_pool2d', arange4x4(),
      { kernelSize: [2, 3], stride: [2, 3], padding: [0, 1] });
    assert.deepEqual(out.shape, [1, 1, 2, 2]);
    assert.deepEqual(out.data, Float32Array.of(5, 7, 13, 15));
  });

  test('cat(X, X + 1) on dim 1 then max_pool2d gives two channels', async () => {
    const x = arange4x4();
    const x1 = { data: x.data.map((v) => v + 1), shape: x.shape };
    const both = await client.concat([x, x1], 1);
    assert.deepEqual(both.shape, [1, 2, 4, 4]);
    assert.deepEqual(both.data, Float32Array.from([...x.data, ...x1.data]));
    const out = await client.pool('max_pool2d', both, { kernelSize: 3, padding: 1, stride: 2 });
    assert.deepEqual(out.shape, [1, 2, 2, 2]);
    assert.deepEqual(out.data, Float32Array.of(5, 7, 13, 15, 6, 8, 14, 16));
  });

  test('pool2d max and avg on the 3x3 arange', async () => {
    const x = { data: Float32Array.from({ length: 9 }, (_, i) => i), shape: [1, 3, 3] };
    const max = await client.pool('max_pool2d', x, { kernelSize: 2, stride: 1 });
    assert.deepEqual(max.data, Float32Array.of(4, 5, 7, 8));
    const avg = await client.pool('avg_pool2d', x, { kernelSize: 2, stride: 1 });
    assert.deepEqual(avg.data, Float32Array.of(2, 3, 5, 6));
  });

  test('global average pooling is adaptive_avg_pool2d to 1', async () => {
    const out = await client.pool('adaptive_avg_pool2d', arange4x4(), { outputSize: 1 });
    assert.deepEqual(out, { data: Float32Array.of(7.5), shape: [1, 1, 1, 1], dtype: 'float32' });
  });

  test('return_indices are int64, flattened per plane', async () => {
    const { output, indices } = await client.pool('max_pool2d', arange4x4(),
      { kernelSize: 3, padding: 1, stride: 2, returnIndices: true });
    assert.deepEqual(output.data, Float32Array.of(5, 7, 13, 15));
    assert.deepEqual(indices, { data: BigInt64Array.of(5n, 7n, 13n, 15n), shape: [1, 1, 2, 2], dtype: 'int64' });
  });

  test('cat promotes int32 with float64 to float64', async () => {
    const out = await client.concat([
      { data: Int32Array.of(1, 2), shape: [1, 2] },
      { data: Float64Array.of(0.5), shape: [1, 1] },
    ], -1);
    assert.deepEqual(out, { data: Float64Array.of(1, 2, 0.5), shape: [1, 3], dtype: 'float64' });
  });

  test('replies over grpc-js\'s default 4 MiB limit arrive', async () => {
    // 6 MiB back: the client must lift the 4 MiB receive default.
    const a = Float32Array.from({ length: 1024 * 768 }, (_, i) => i);
    const out = await client.concat([
      { data: a, shape: [1, 1, 1024, 768] },
      { data: a.map((v) => -v), shape: [1, 1, 1024, 768] },
    ], 1);
    assert.deepEqual(out.shape, [1, 2, 1024, 768]);
    assert.deepEqual(out.data.subarray(0, a.length), a);
    assert.deepEqual(out.data.subarray(a.length), a.map((v) => -v));
  });

  test('unknown health service is NOT_FOUND', async () => {
    await rejectsWith(client.health('no.such.Service'), 'NOT_FOUND');
  });

  test('zero kernel_size is INVALID_ARGUMENT naming the field', async () => {
    await rejectsWith(client.pool('max_pool2d', arange4x4(), { kernelSize: 0 }), 'INVALID_ARGUMENT', /kernel/);
  });

  test('unknown op is INVALID_ARGUMENT naming it', async () => {
    await rejectsWith(client.pool('median_pool2d', arange4x4(), { kernelSize: 2 }),
      'INVALID_ARGUMENT', /median_pool2d/);
  });
});
