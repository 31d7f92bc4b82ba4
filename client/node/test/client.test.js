'use strict';
// Tests of the poolcat Node.js client, run with `node --test` in client/node.
//
// "against a fake server" checks what the client puts on the wire and how it
// reads replies, with an in-process grpc-js server that records requests and
// echoes the input. "against poolcat-server" replays the seed notebook's
// examples (shared/seeds/000_03731dc8b5fa7a4c.txt) and checks errors and
// deadlines through the real server whose address is in POOLCAT_TARGET
// (tests/clients/with_server.py sets it), over TLS when POOLCAT_TLS_CA (and
// for mutual TLS POOLCAT_TLS_CLIENT_CERT / _KEY) name certificates; without
// POOLCAT_TARGET, that part is skipped.

const assert = require('node:assert/strict');
const net = require('node:net');
const path = require('node:path');
const { after, before, describe, test } = require('node:test');

const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const poolcat = require('..');

const { Client, PoolcatError, bfloat16FromFloat32, float32FromBfloat16 } = poolcat;

const TARGET = process.env.POOLCAT_TARGET;
const PROTO_DIR = process.env.POOLCAT_PROTO_DIR || path.resolve(__dirname, '..', '..', '..', 'proto');

// tls option when with_server.py --tls made certificates (file paths).
function tlsFromEnv() {
  const ca = process.env.POOLCAT_TLS_CA;
  if (!ca) return undefined;
  return {
    ca,
    cert: process.env.POOLCAT_TLS_CLIENT_CERT,
    key: process.env.POOLCAT_TLS_CLIENT_KEY,
  };
}

function arange4x4() {
  return { data: Float32Array.from({ length: 16 }, (_, i) => i), shape: [1, 1, 4, 4] };
}

async function rejectsWith(promise, codeName, pattern) {
  let error;
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof PoolcatError, `not a PoolcatError: ${err}`);
    assert.ok(err instanceof Error);
    assert.equal(err.codeName, codeName, err.message);
    assert.equal(err.code, grpc.status[codeName]);
    if (pattern) assert.match(err.details, pattern);
    assert.equal(err.message, `${codeName}: ${err.details}`);
    error = err;
    return true;
  });
  return error;
}

test('the package main is src/index.js, so require(\'./client/node\') works', () => {
  // eslint-disable-next-line global-require
  assert.equal(require(path.resolve(__dirname, '..')).Client, Client);
  assert.equal(poolcat.status.INVALID_ARGUMENT, grpc.status.INVALID_ARGUMENT);
});

test('bfloat16 helpers round to nearest even like c10::BFloat16', () => {
  const x = Float32Array.of(1, 1.00390625, 1.01171875, -3.3, Infinity, -Infinity, NaN, 1e-40, -0);
  const bits = bfloat16FromFloat32(x);
  assert.deepEqual([...bits], [0x3F80, 0x3F80, 0x3F82, 0xC053, 0x7F80, 0xFF80, 0x7FC0, 0x0001, 0x8000]);
  assert.deepEqual(float32FromBfloat16(Uint16Array.of(0x3F80, 0xC053, 0x8000)),
    Float32Array.of(1, -3.296875, -0));
});

describe('against a fake server', () => {
  let server;
  let client;
  let port;
  const seen = [];
  let failWith = null;
  let hold = null;

  before(async () => {
    const definition = protoLoader.loadSync('poolcat/v1/poolcat.proto', {
      keepCase: true, longs: Number, enums: String, defaults: false, oneofs: true,
      includeDirs: [PROTO_DIR],
    });
    const { PoolCat } = grpc.loadPackageDefinition(definition).poolcat.v1;
    const answer = (reply) => async (call, callback) => {
      seen.push(call.request);
      if (hold) await hold;
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
    port = await new Promise((resolve, reject) => {
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(),
        (err, p) => (err ? reject(err) : resolve(p)));
    });
    client = new Client(`127.0.0.1:${port}`, { timeout_ms: 30000 });
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
    await client.pool(arange4x4(), { op: 'max_pool2d', kernel_size: 3 });
    const r = last();
    assert.equal(r.op, 'max_pool2d');
    assert.deepEqual(r.kernel_size, [3]);
    for (const f of ['stride', 'padding', 'dilation', 'output_size']) assert.deepEqual(r[f] || [], [], f);
    for (const f of ['count_include_pad', 'divisor_override', 'norm_type']) assert.equal(r[f], undefined, f);
    assert.ok(!r.ceil_mode && !r.channels_last && !r.return_indices);
  });

  test('every option reaches the wire under its PyTorch name', async () => {
    await client.pool({ data: new Float32Array(24), shape: [2, 3, 4] }, {
      op: 'avg_pool2d', kernel_size: [2, 3], stride: [1, 2], padding: [0, 1], dilation: 2,
      ceil_mode: true, count_include_pad: false, divisor_override: 5n, norm_type: 2, channels_last: true,
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

  test('null in output_size means keep that dimension', async () => {
    await client.pool({ data: new Float32Array(35), shape: [1, 5, 7] },
      { op: 'adaptive_avg_pool2d', output_size: [null, 3] });
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
      const out = await client.pool({ data, shape: [1, 2, 3], dtype }, { op: 'max_pool1d', kernel_size: 1 });
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

  test('subarray views send only their own elements; dim as option or number', async () => {
    const whole = Float32Array.of(9, 1, 2, 3, 9);
    const out = await client.concat([{ data: whole.subarray(1, 4), shape: [3] }], { dim: -1 });
    assert.equal(last().dim, -1);
    assert.deepEqual(out.data, Float32Array.of(1, 2, 3));
    await client.concat([{ data: whole, shape: [5] }], 0);
    assert.equal(last().dim || 0, 0);
  });

  test('return_indices adds int64 indices to the result', async () => {
    const out = await client.pool({ data: new Float32Array(4), shape: [1, 2, 2] },
      { op: 'max_pool2d', kernel_size: 1, return_indices: true });
    assert.equal(last().return_indices, true);
    assert.deepEqual(out.shape, [1, 2, 2]);
    assert.equal(out.dtype, 'float32');
    assert.deepEqual(out.indices, { data: BigInt64Array.of(0n, 1n, 2n, 3n), shape: [1, 2, 2], dtype: 'int64' });
  });

  test('server status rejects with PoolcatError carrying code and message', async () => {
    failWith = { code: grpc.status.INVALID_ARGUMENT, details: 'pool.kernel_size must be > 0, got 0' };
    try {
      await rejectsWith(client.pool(arange4x4(), { op: 'max_pool2d', kernel_size: 0 }),
        'INVALID_ARGUMENT', /^pool\.kernel_size must be > 0, got 0$/);
    } finally {
      failWith = null;
      seen.length = 0;
    }
  });

  test('a call the server holds past its deadline is DEADLINE_EXCEEDED', async () => {
    let release;
    hold = new Promise((resolve) => { release = resolve; });
    try {
      await rejectsWith(client.concat([arange4x4()], { timeout_ms: 200 }), 'DEADLINE_EXCEEDED');
    } finally {
      hold = null;
      release();
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
    assert.equal(seen.length, 0);
  });

  test('bad options are refused before sending, naming them', async () => {
    const x = arange4x4();
    const bad = [
      [() => client.pool(x, { op: 'max_pool2d', kernel_size: [2, 1.5] }), /^kernel_size\[1\] must be an integer, got 1.5$/],
      [() => client.pool(x, { op: 'max_pool2d', kernelSize: 2 }), /^unknown pool option kernelSize; options take PyTorch's names/],
      [() => client.pool(x, { kernel_size: 2 }), /^op must be a PyTorch functional name/],
      [() => client.pool(x, 'max_pool2d'), /^options must be an object/],
      [() => client.pool(x, { op: 'max_pool2d', kernel_size: 2, ceil_mode: 'yes' }), /^ceil_mode must be true or false/],
      [() => client.pool(x, { op: 'lp_pool2d', kernel_size: 2, norm_type: '2' }), /^norm_type must be a number/],
      [() => client.pool(x, { op: 'max_pool2d', kernel_size: 2, timeout_ms: 'soon' }), /^timeout_ms must be a number/],
      [() => client.concat([x], '1'), /^options must be an object/],
      [() => client.concat([x], { dim: '1' }), /^dim must be an integer/],
      [() => client.concat([x], { axis: 1 }), /^unknown concat option axis/],
      [() => client.concat(x), /^tensors must be an array/],
    ];
    for (const [call, pattern] of bad) await rejectsWith(call(), 'INVALID_ARGUMENT', pattern);
    assert.equal(seen.length, 0);
  });

  test('a default deadline in the past fails calls that do not override it', async () => {
    const expired = new Client(`127.0.0.1:${port}`, { timeout_ms: -1000 });
    try {
      await rejectsWith(expired.health(), 'DEADLINE_EXCEEDED');
      await expired.concat([arange4x4()], { timeout_ms: 30000 });
      assert.equal(last().tensors.length, 1);
    } finally {
      expired.close();
    }
  });
});

describe('constructing a client', () => {
  test('bad target, options and tls are refused naming them', () => {
    const bad = [
      [() => new Client(50051), /^target must be a non-empty string/],
      [() => new Client('x:1', { timeoutMs: 5 }), /^unknown Client option timeoutMs/],
      [() => new Client('x:1', { tls: 'yes' }), /^tls must be true/],
      [() => new Client('x:1', { tls: { cert: Buffer.from('pem') } }), /^tls: cert and key go together/],
      [() => new Client('x:1', { tls: { ca: '/no/such/ca.pem' } }), /^tls\.ca: cannot read \/no\/such\/ca\.pem/],
      [() => new Client('x:1', { timeout_ms: '5' }), /^timeout_ms must be a number/],
    ];
    for (const [make, pattern] of bad) {
      assert.throws(make, (err) => {
        assert.ok(err instanceof PoolcatError, String(err));
        assert.equal(err.codeName, 'INVALID_ARGUMENT');
        assert.match(err.details, pattern);
        return true;
      });
    }
  });
});

describe('against poolcat-server', { skip: !TARGET && 'POOLCAT_TARGET not set (run via tests/clients/with_server.py)' }, () => {
  let client;
  before(() => {
    client = new Client(TARGET, { timeout_ms: 60000, tls: tlsFromEnv() });
  });
  after(() => client.close());

  test('server is serving', async () => {
    assert.equal(await client.health(), 'SERVING');
  });

  // The seed notebook, cell by cell.
  test('hand-written pool2d, max and avg, on the 3x3 arange (In [5], In [6])', async () => {
    const x = { data: Float32Array.from({ length: 9 }, (_, i) => i), shape: [1, 3, 3] };
    const max = await client.pool(x, { op: 'max_pool2d', kernel_size: 2, stride: 1 });
    assert.deepEqual(max, { data: Float32Array.of(4, 5, 7, 8), shape: [1, 2, 2], dtype: 'float32' });
    const avg = await client.pool(x, { op: 'avg_pool2d', kernel_size: 2, stride: 1 });
    assert.deepEqual(avg.data, Float32Array.of(2, 3, 5, 6));
  });

  test('2x2 max pooling of the 4x4 matrix in the notes', async () => {
    const x = { data: Float32Array.of(1, 3, 2, 4, 5, 6, 7, 8, 9, 2, 1, 0, 3, 4, 5, 6), shape: [1, 4, 4] };
    const out = await client.pool(x, { op: 'max_pool2d', kernel_size: 2 });
    assert.deepEqual(out, { data: Float32Array.of(6, 8, 9, 6), shape: [1, 2, 2], dtype: 'float32' });
  });

  test('MaxPool2d(3) on the 4x4 arange is 10 (In [8])', async () => {
    const out = await client.pool(arange4x4(), { op: 'max_pool2d', kernel_size: 3 });
    assert.deepEqual(out, { data: Float32Array.of(10), shape: [1, 1, 1, 1], dtype: 'float32' });
  });

  test('MaxPool2d(3, padding=1, stride=2) (In [9])', async () => {
    const out = await client.pool(arange4x4(), { op: 'max_pool2d', kernel_size: 3, padding: 1, stride: 2 });
    assert.deepEqual(out, { data: Float32Array.of(5, 7, 13, 15), shape: [1, 1, 2, 2], dtype: 'float32' });
  });

  test('MaxPool2d((2, 3), stride=(2, 3), padding=(0, 1)) (In [10])', async () => {
    const out = await client.pool(arange4x4(),
      { op: 'max_pool2d', kernel_size: [2, 3], stride: [2, 3], padding: [0, 1] });
    assert.deepEqual(out, { data: Float32Array.of(5, 7, 13, 15), shape: [1, 1, 2, 2], dtype: 'float32' });
  });

  test('cat((X, X + 1), 1) then MaxPool2d(3, padding=1, stride=2) (In [11], In [12])', async () => {
    const x = arange4x4();
    const x1 = { data: x.data.map((v) => v + 1), shape: x.shape };
    const both = await client.concat([x, x1], { dim: 1 });
    assert.deepEqual(both.shape, [1, 2, 4, 4]);
    assert.deepEqual(both.data, Float32Array.from([...x.data, ...x1.data]));
    const out = await client.pool(both, { op: 'max_pool2d', kernel_size: 3, padding: 1, stride: 2 });
    assert.deepEqual(out, { data: Float32Array.of(5, 7, 13, 15, 6, 8, 14, 16), shape: [1, 2, 2, 2], dtype: 'float32' });
  });

  test('global average pooling is adaptive_avg_pool2d to 1', async () => {
    const out = await client.pool(arange4x4(), { op: 'adaptive_avg_pool2d', output_size: 1 });
    assert.deepEqual(out, { data: Float32Array.of(7.5), shape: [1, 1, 1, 1], dtype: 'float32' });
  });

  test('return_indices are int64, flattened per plane', async () => {
    const out = await client.pool(arange4x4(),
      { op: 'max_pool2d', kernel_size: 3, padding: 1, stride: 2, return_indices: true });
    assert.deepEqual(out.data, Float32Array.of(5, 7, 13, 15));
    assert.deepEqual(out.indices, { data: BigInt64Array.of(5n, 7n, 13n, 15n), shape: [1, 1, 2, 2], dtype: 'int64' });
  });

  test('channels_last input comes back channels-last', async () => {
    // (1, 4, 4, 2): the two channels of In [11], interleaved.
    const x = arange4x4().data;
    const nhwc = Float32Array.from({ length: 32 }, (_, i) => x[i >> 1] + (i & 1));
    const out = await client.pool({ data: nhwc, shape: [1, 4, 4, 2] },
      { op: 'max_pool2d', kernel_size: 3, padding: 1, stride: 2, channels_last: true });
    assert.deepEqual(out, { data: Float32Array.of(5, 6, 7, 8, 13, 14, 15, 16), shape: [1, 2, 2, 2], dtype: 'float32' });
  });

  test('cat promotes int32 with float64 to float64', async () => {
    const out = await client.concat([
      { data: Int32Array.of(1, 2), shape: [1, 2] },
      { data: Float64Array.of(0.5), shape: [1, 1] },
    ], { dim: -1 });
    assert.deepEqual(out, { data: Float64Array.of(1, 2, 0.5), shape: [1, 3], dtype: 'float64' });
  });

  test('bfloat16 pools in bfloat16', async () => {
    // 1 + 2^-8 is not a bfloat16: it rounds (ties to even) to 1.
    const x = { data: bfloat16FromFloat32([1, 1.00390625, 3, 2]), shape: [1, 1, 4], dtype: 'bfloat16' };
    const out = await client.pool(x, { op: 'avg_pool1d', kernel_size: 2 });
    assert.equal(out.dtype, 'bfloat16');
    assert.deepEqual(float32FromBfloat16(out.data), Float32Array.of(1, 2.5));
  });

  test('replies over grpc-js\'s default 4 MiB limit arrive', async () => {
    // 6 MiB back: the client must lift the 4 MiB receive default.
    const a = Float32Array.from({ length: 1024 * 768 }, (_, i) => i);
    const out = await client.concat([
      { data: a, shape: [1, 1, 1024, 768] },
      { data: a.map((v) => -v), shape: [1, 1, 1024, 768] },
    ], { dim: 1 });
    assert.deepEqual(out.shape, [1, 2, 1024, 768]);
    assert.deepEqual(out.data.subarray(0, a.length), a);
    assert.deepEqual(out.data.subarray(a.length), a.map((v) => -v));
  });

  // Errors.
  test('bad arguments are INVALID_ARGUMENT naming them', async () => {
    const x = arange4x4();
    const cases = [
      [{ op: 'max_pool2d', kernel_size: 0 }, /kernel_size/],
      [{ op: 'max_pool2d', kernel_size: 2, stride: 0 }, /stride/],
      [{ op: 'max_pool2d', kernel_size: 2, padding: 2 }, /pad/],
      [{ op: 'avg_pool2d', kernel_size: 2, divisor_override: 0 }, /divisor/],
      [{ op: 'lp_pool2d', kernel_size: 2 }, /norm_type/],
      [{ op: 'median_pool2d', kernel_size: 2 }, /median_pool2d/],
    ];
    for (const [options, pattern] of cases) {
      await rejectsWith(client.pool(x, options), 'INVALID_ARGUMENT', pattern);
    }
  });

  test('bad concatenations are refused', async () => {
    const a = { data: new Float32Array(6), shape: [2, 3] };
    const b = { data: new Float32Array(8), shape: [2, 4] };
    await rejectsWith(client.concat([a, b], { dim: 0 }), 'INVALID_ARGUMENT', /tensors/);
    await rejectsWith(client.concat([a, a], { dim: 2 }), 'OUT_OF_RANGE', /Dimension out of range/);
    await rejectsWith(client.concat([]), 'INVALID_ARGUMENT');
  });

  test('unknown health service is NOT_FOUND', async () => {
    await rejectsWith(client.health('no.such.Service'), 'NOT_FOUND');
  });

  test('a closed port is UNAVAILABLE', async () => {
    // A loopback port that was free a moment ago: nothing listens there.
    const freePort = await new Promise((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = s.address();
        s.close(() => resolve(port));
      });
    });
    const nowhere = new Client(`127.0.0.1:${freePort}`, { timeout_ms: 30000 });
    try {
      await rejectsWith(nowhere.health(), 'UNAVAILABLE');
    } finally {
      nowhere.close();
    }
  });

  // Deadlines.
  test('a tiny deadline on a big op is DEADLINE_EXCEEDED; the server is fine after', async () => {
    // Seconds of work (as tests/integration's SlowPool) against 1 ms.
    const data = Float32Array.from({ length: 4 * 64 * 64 * 64 }, (_, i) => Math.sin(i));
    await rejectsWith(client.pool({ data, shape: [1, 4, 64, 64, 64] },
      { op: 'avg_pool3d', kernel_size: 21, stride: 1, timeout_ms: 1 }), 'DEADLINE_EXCEEDED');
    const out = await client.pool(arange4x4(), { op: 'max_pool2d', kernel_size: 3 });
    assert.deepEqual(out.data, Float32Array.of(10));
  });

  test('a client default deadline in the past applies unless a call overrides it', async () => {
    const past = new Client(TARGET, { timeout_ms: -1000, tls: tlsFromEnv() });
    try {
      await rejectsWith(past.pool(arange4x4(), { op: 'max_pool2d', kernel_size: 3 }), 'DEADLINE_EXCEEDED');
      const out = await past.pool(arange4x4(), { op: 'max_pool2d', kernel_size: 3, timeout_ms: 60000 });
      assert.deepEqual(out.data, Float32Array.of(10));
    } finally {
      past.close();
    }
  });

  test('mutual TLS refuses a client without a certificate',
    { skip: !process.env.POOLCAT_TLS_CLIENT_CERT && 'server does not demand client certificates' }, async () => {
      const anonymous = new Client(TARGET, { timeout_ms: 30000, tls: { ca: process.env.POOLCAT_TLS_CA } });
      try {
        await rejectsWith(anonymous.health(), 'UNAVAILABLE');
      } finally {
        anonymous.close();
      }
    });
});
