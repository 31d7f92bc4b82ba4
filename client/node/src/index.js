'use strict';
// Promise-based Node.js client for the poolcat.v1.PoolCat gRPC service.
//
//   const { Client } = require('./client/node');
//   const client = new Client('127.0.0.1:50051');
//   const y = await client.pool({ data: Float32Array, shape: [1, 1, 4, 4] },
//     { op: 'max_pool2d', kernel_size: 3, padding: 1, stride: 2 });
//   // y: { data: Float32Array, shape: [1, 1, 2, 2], dtype: 'float32' }
//
// Tensors are plain objects { data, shape, dtype }: `data` a typed array in
// row-major (C) order, `shape` an array of dimension sizes, `dtype` one of
// DTYPES' names (inferred from the typed array where that is unambiguous).
// Options take PyTorch's argument names. The proto is loaded at run time by
// @grpc/proto-loader from the repo's proto/ directory: no generated code.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

// dtype name -> wire enum name and the typed array holding its elements.
// float16 and bfloat16 travel as their raw 16-bit patterns in a Uint16Array
// (see bfloat16FromFloat32 / float32FromBfloat16).
const DTYPES = Object.freeze({
  float32: { wire: 'DTYPE_FLOAT32', array: Float32Array },
  float64: { wire: 'DTYPE_FLOAT64', array: Float64Array },
  bfloat16: { wire: 'DTYPE_BFLOAT16', array: Uint16Array },
  float16: { wire: 'DTYPE_FLOAT16', array: Uint16Array },
  int8: { wire: 'DTYPE_INT8', array: Int8Array },
  uint8: { wire: 'DTYPE_UINT8', array: Uint8Array },
  int16: { wire: 'DTYPE_INT16', array: Int16Array },
  int32: { wire: 'DTYPE_INT32', array: Int32Array },
  int64: { wire: 'DTYPE_INT64', array: BigInt64Array },
  bool: { wire: 'DTYPE_BOOL', array: Uint8Array },
});
const DTYPE_OF_WIRE = new Map(
  Object.entries(DTYPES).map(([name, d]) => [d.wire, name]));
// The dtype a typed array means when the caller names none. Uint16Array is
// absent on purpose: it could be float16 or bfloat16.
const DTYPE_OF_ARRAY = new Map([
  [Float32Array, 'float32'], [Float64Array, 'float64'], [Int8Array, 'int8'],
  [Uint8Array, 'uint8'], [Uint8ClampedArray, 'uint8'], [Int16Array, 'int16'],
  [Int32Array, 'int32'], [BigInt64Array, 'int64'],
]);

// Pool options: PyTorch's argument names, plus the call's deadline.
const POOL_OPTIONS = new Set([
  'op', 'kernel_size', 'stride', 'padding', 'dilation', 'ceil_mode',
  'count_include_pad', 'divisor_override', 'norm_type', 'output_size',
  'channels_last', 'return_indices', 'timeout_ms',
]);

const DEFAULT_TARGET = 'localhost:50051';
// Same default deadline as the C++ and Python clients, so a server that never
// answers cannot hang a caller that set none.
const DEFAULT_TIMEOUT_MS = 60000;

const STATUS_NAMES = Object.fromEntries(
  Object.entries(grpc.status).map(([name, code]) => [code, name]));

// A failed call: `code` is the numeric gRPC status (grpc.status.*),
// `codeName` its name, `details` the server's message (which names the
// offending argument and value). Arguments the client cannot encode reject
// with INVALID_ARGUMENT too, so callers handle a single type.
class PoolcatError extends Error {
  constructor(code, details) {
    const codeName = STATUS_NAMES[code] || String(code);
    super(`${codeName}: ${details}`);
    this.name = 'PoolcatError';
    this.code = code;
    this.codeName = codeName;
    this.details = details;
  }
}

function invalid(message) {
  return new PoolcatError(grpc.status.INVALID_ARGUMENT, message);
}

// The wire format is little-endian; typed arrays use the host's order.
const LITTLE_ENDIAN_HOST = os.endianness() === 'LE';

const LOADER_OPTIONS = {
  keepCase: true, // Field names exactly as in the proto (snake_case).
  longs: Number, // Shapes fit in 2^53 long before memory runs out.
  enums: String,
  defaults: false,
  oneofs: true,
};

// grpc.health.v1 has no .proto file in any package we depend on, and it is
// two tiny messages, so it is described here in protobuf.js JSON form.
const HEALTH_JSON = {
  nested: { grpc: { nested: { health: { nested: { v1: { nested: {
    HealthCheckRequest: { fields: { service: { type: 'string', id: 1 } } },
    HealthCheckResponse: {
      fields: { status: { type: 'ServingStatus', id: 1 } },
      nested: {
        ServingStatus: {
          values: { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 },
        },
      },
    },
    Health: {
      methods: {
        Check: { requestType: 'HealthCheckRequest', responseType: 'HealthCheckResponse' },
      },
    },
  } } } } } } },
};

function defaultProtoDir() {
  return process.env.POOLCAT_PROTO_DIR || path.resolve(__dirname, '..', '..', '..', 'proto');
}

function product(shape) {
  return shape.reduce((n, d) => n * d, 1);
}

function checkShape(shape, what) {
  if (!Array.isArray(shape) ||
      !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw invalid(`${what}.shape must be an array of non-negative integers, ` +
                  `got ${JSON.stringify(shape)}`);
  }
}

// { data, shape, dtype? } -> poolcat.v1.Tensor (plain object for grpc-js).
function toWire(tensor, what) {
  if (tensor === null || typeof tensor !== 'object') {
    throw invalid(`${what} must be an object { data, shape, dtype }`);
  }
  const { data, shape } = tensor;
  checkShape(shape, what);
  let { dtype } = tensor;
  if (dtype === undefined && data != null) dtype = DTYPE_OF_ARRAY.get(data.constructor);
  if (dtype === undefined) {
    throw invalid(`${what}.dtype is required for ${data == null ? data : data.constructor.name} data`);
  }
  const spec = DTYPES[dtype];
  if (!spec) {
    throw invalid(`${what}.dtype: unsupported dtype ${JSON.stringify(dtype)}; ` +
                  `use one of ${Object.keys(DTYPES).join(', ')}`);
  }
  let elements = data;
  if (Array.isArray(data) && spec.array !== Uint16Array) {
    elements = spec.array === BigInt64Array ?
      BigInt64Array.from(data, (v) => BigInt(v)) : spec.array.from(data, Number);
  } else if (!ArrayBuffer.isView(data) || data instanceof DataView ||
             data.BYTES_PER_ELEMENT !== spec.array.BYTES_PER_ELEMENT ||
             (data.constructor !== spec.array &&
              !(dtype === 'uint8' && data instanceof Uint8ClampedArray))) {
    throw invalid(`${what}.data must be a ${spec.array.name} for dtype ${dtype}, ` +
                  `got ${data == null ? data : data.constructor.name}`);
  }
  if (elements.length !== product(shape)) {
    throw invalid(`${what}.shape [${shape}] holds ${product(shape)} elements ` +
                  `but ${what}.data has ${elements.length}`);
  }
  return {
    dtype: spec.wire,
    shape,
    data: Buffer.from(elements.buffer, elements.byteOffset, elements.byteLength),
  };
}

// poolcat.v1.Tensor -> { data, shape, dtype }, data in a fresh typed array.
function fromWire(wire) {
  const dtype = DTYPE_OF_WIRE.get(wire.dtype);
  if (!dtype) throw new PoolcatError(grpc.status.INTERNAL, `server returned unknown dtype ${wire.dtype}`);
  const shape = (wire.shape || []).map(Number);
  const bytes = wire.data || Buffer.alloc(0);
  const Array_ = DTYPES[dtype].array;
  if (product(shape) * Array_.BYTES_PER_ELEMENT !== bytes.length) {
    throw new PoolcatError(grpc.status.INTERNAL,
      `server returned ${bytes.length} bytes for a ${dtype} tensor of shape [${shape}]`);
  }
  // Copy into a buffer of our own: the received one may be shared or not
  // aligned to the element size, which typed arrays require.
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  return { data: new Array_(copy.buffer), shape, dtype };
}

// float32 values -> bfloat16 bit patterns, rounded to nearest even as
// c10::BFloat16(float) and poolcat's core do (every NaN becomes 0x7FC0).
function bfloat16FromFloat32(values) {
  const f = Float32Array.from(values);
  const bits = new Uint32Array(f.buffer);
  const out = new Uint16Array(f.length);
  for (let i = 0; i < f.length; i += 1) {
    const u = bits[i];
    out[i] = Number.isNaN(f[i]) ? 0x7FC0 : ((u + (((u >>> 16) & 1) + 0x7FFF)) >>> 16) & 0xFFFF;
  }
  return out;
}

// bfloat16 bit patterns -> float32 values (exact).
function float32FromBfloat16(bits) {
  const out = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i += 1) out[i] = bits[i] << 16;
  return new Float32Array(out.buffer);
}

function oneInt(name, value) {
  const v = typeof value === 'bigint' ? Number(value) : value;
  if (!Number.isSafeInteger(v)) throw invalid(`${name} must be an integer, got ${String(value)}`);
  return v;
}

// A number for every spatial dimension or an array of them, as PyTorch
// takes. undefined/null, or the single number `defaultValue`, gives [] (the
// wire's "default"); null entries become `noneMeans`.
function intList(name, value, { defaultValue, noneMeans } = {}) {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) {
    const v = oneInt(name, value);
    return v === defaultValue ? [] : [v];
  }
  return value.map((v, i) => (v === null && noneMeans !== undefined ?
    noneMeans : oneInt(`${name}[${i}]`, v)));
}

function bool(name, value) {
  if (value === undefined || value === null) return false;
  if (typeof value !== 'boolean') throw invalid(`${name} must be true or false, got ${String(value)}`);
  return value;
}

function timeoutMs(name, value) {
  if (value === undefined) return undefined;
  if (value !== null && !Number.isFinite(value)) {
    throw invalid(`${name} must be a number of milliseconds or null (no deadline), got ${String(value)}`);
  }
  return value;
}

// PEM bytes from a Buffer/Uint8Array, or the contents of a file path.
function pem(name, value) {
  if (value === undefined || value === null) return null;
  if (value instanceof Uint8Array) return Buffer.from(value);
  if (typeof value === 'string') {
    try {
      return fs.readFileSync(value);
    } catch (e) {
      throw invalid(`tls.${name}: cannot read ${value}: ${e.message}`);
    }
  }
  throw invalid(`tls.${name} must be a Buffer of PEM or a file path, got ${typeof value}`);
}

// The tls option -> [credentials, extra channel options].
function credentialsFor(tls) {
  if (tls === undefined || tls === null || tls === false) return [grpc.credentials.createInsecure(), {}];
  if (tls === true) return [grpc.credentials.createSsl(), {}];
  if (tls instanceof grpc.ChannelCredentials) return [tls, {}];
  if (typeof tls === 'object') {
    const unknown = Object.keys(tls).filter((k) => !['ca', 'cert', 'key', 'server_name'].includes(k));
    if (unknown.length) throw invalid(`tls: unknown option ${unknown[0]}; use ca, cert, key, server_name`);
    if ((tls.cert == null) !== (tls.key == null)) throw invalid('tls: cert and key go together');
    const extra = tls.server_name ? { 'grpc.ssl_target_name_override': tls.server_name } : {};
    return [grpc.credentials.createSsl(pem('ca', tls.ca), pem('key', tls.key), pem('cert', tls.cert)), extra];
  }
  throw invalid(`tls must be true, { ca, cert, key, server_name } or grpc.ChannelCredentials, got ${String(tls)}`);
}

class Client {
  // new Client(target = 'localhost:50051', options)
  //   target: gRPC target, e.g. '127.0.0.1:50051' or
  //     'ipv4:127.0.0.1:5001,127.0.0.1:5002'.
  //   options.timeout_ms: default deadline of each call in milliseconds
  //     (60000; null: none). Every method also takes { timeout_ms }.
  //   options.tls: true (system roots), { ca, cert, key, server_name } (PEM
  //     Buffers or file paths; cert + key for mutual TLS), or
  //     grpc.ChannelCredentials. Plaintext when unset.
  //   options.channel_options: extra grpc-js channel options.
  //   options.proto_dir: directory holding poolcat/v1/poolcat.proto
  //     (default: the repo's proto/, or $POOLCAT_PROTO_DIR).
  constructor(target = DEFAULT_TARGET, options = {}) {
    if (!LITTLE_ENDIAN_HOST) throw new Error('poolcat client needs a little-endian host');
    if (typeof target !== 'string' || target === '') {
      throw invalid(`target must be a non-empty string such as '127.0.0.1:50051', got ${String(target)}`);
    }
    const {
      timeout_ms: timeout = DEFAULT_TIMEOUT_MS, tls, channel_options: channelOptions = {},
      proto_dir: protoDir = defaultProtoDir(), ...unknown
    } = options;
    const extra = Object.keys(unknown);
    if (extra.length) throw invalid(`unknown Client option ${extra[0]}; use timeout_ms, tls, channel_options, proto_dir`);
    this._timeoutMs = timeoutMs('timeout_ms', timeout);
    const [creds, tlsOptions] = credentialsFor(tls);
    const definition = protoLoader.loadSync('poolcat/v1/poolcat.proto',
      { ...LOADER_OPTIONS, includeDirs: [protoDir] });
    const { PoolCat } = grpc.loadPackageDefinition(definition).poolcat.v1;
    const { Health } = grpc.loadPackageDefinition(
      protoLoader.fromJSON(HEALTH_JSON, LOADER_OPTIONS)).grpc.health.v1;
    // The server takes up to --max_message_bytes (256 MiB by default), far
    // over grpc-js's 4 MiB receive default, so the limit is left to it.
    const channelOpts = {
      'grpc.max_receive_message_length': -1,
      'grpc.max_send_message_length': -1,
      ...tlsOptions,
      ...channelOptions,
    };
    this._stub = new PoolCat(target, creds, channelOpts);
    // The health stub shares the PoolCat stub's channel.
    this._health = new Health(target, creds, { ...channelOpts, channelOverride: this._stub.getChannel() });
  }

  close() {
    this._stub.close();
  }

  _call(stub, method, request, callTimeout) {
    const ms = callTimeout === undefined ? this._timeoutMs : callTimeout;
    const callOptions = ms === null || ms === undefined ? {} : { deadline: Date.now() + ms };
    return new Promise((resolve, reject) => {
      stub[method](request, callOptions, (err, reply) => {
        if (err) reject(new PoolcatError(err.code, err.details || err.message));
        else resolve(reply);
      });
    });
  }

  // torch.nn.functional.<op>(x, ...) computed by the server.
  //   x: { data, shape, dtype? }, (N, C, *spatial) or (C, *spatial); with
  //     channels_last, (N, *spatial, C) or (*spatial, C).
  //   options: op ('max_pool2d', 'avg_pool1d', 'lp_pool2d',
  //     'adaptive_max_pool3d', ...) and PyTorch's arguments: kernel_size,
  //     stride, padding, dilation, output_size (a number for every spatial
  //     dim or an array; null in output_size keeps that dim), ceil_mode,
  //     count_include_pad, divisor_override, norm_type, channels_last,
  //     return_indices; timeout_ms for this call.
  // Resolves to { data, shape, dtype }, plus `indices` (an int64 tensor with
  // a BigInt64Array) with return_indices. Rejects with PoolcatError.
  async pool(x, options = {}) {
    if (options === null || typeof options !== 'object') {
      throw invalid('options must be an object such as { op: \'max_pool2d\', kernel_size: 2 }');
    }
    const o = options;
    const unknown = Object.keys(o).filter((k) => !POOL_OPTIONS.has(k));
    if (unknown.length) {
      throw invalid(`unknown pool option ${unknown[0]}; options take PyTorch's names: ` +
                    `${[...POOL_OPTIONS].join(', ')}`);
    }
    if (typeof o.op !== 'string') {
      throw invalid(`op must be a PyTorch functional name such as 'max_pool2d', got ${String(o.op)}`);
    }
    const request = {
      op: o.op,
      input: toWire(x, 'x'),
      kernel_size: intList('kernel_size', o.kernel_size),
      stride: intList('stride', o.stride),
      // Empty means 0 / 1 on the wire, so defaults are left empty.
      padding: intList('padding', o.padding, { defaultValue: 0 }),
      dilation: intList('dilation', o.dilation, { defaultValue: 1 }),
      output_size: intList('output_size', o.output_size, { noneMeans: -1 }),
      ceil_mode: bool('ceil_mode', o.ceil_mode),
      channels_last: bool('channels_last', o.channels_last),
      return_indices: bool('return_indices', o.return_indices),
    };
    if (o.count_include_pad !== undefined && o.count_include_pad !== null) {
      request.count_include_pad = bool('count_include_pad', o.count_include_pad);
    }
    if (o.divisor_override !== undefined && o.divisor_override !== null) {
      request.divisor_override = oneInt('divisor_override', o.divisor_override);
    }
    if (o.norm_type !== undefined && o.norm_type !== null) {
      if (typeof o.norm_type !== 'number') throw invalid(`norm_type must be a number, got ${String(o.norm_type)}`);
      request.norm_type = o.norm_type;
    }
    const reply = await this._call(this._stub, 'Pool', request, timeoutMs('timeout_ms', o.timeout_ms));
    const output = fromWire(reply.output || {});
    if (!request.return_indices) return output;
    if (!reply.indices) throw new PoolcatError(grpc.status.INTERNAL, 'server sent no indices for return_indices');
    output.indices = fromWire(reply.indices);
    return output;
  }

  // torch.cat(tensors, dim) on the server, with torch's dtype promotion.
  //   options: { dim = 0, timeout_ms } (a number is taken as dim).
  async concat(tensors, options = {}) {
    if (!Array.isArray(tensors)) throw invalid('tensors must be an array of { data, shape, dtype }');
    const o = typeof options === 'number' || typeof options === 'bigint' ? { dim: options } : options;
    if (o === null || typeof o !== 'object') throw invalid('options must be an object such as { dim: 1 }');
    const unknown = Object.keys(o).filter((k) => k !== 'dim' && k !== 'timeout_ms');
    if (unknown.length) throw invalid(`unknown concat option ${unknown[0]}; use dim, timeout_ms`);
    const request = {
      tensors: tensors.map((t, i) => toWire(t, `tensors[${i}]`)),
      dim: o.dim === undefined ? 0 : oneInt('dim', o.dim),
    };
    const reply = await this._call(this._stub, 'Concat', request, timeoutMs('timeout_ms', o.timeout_ms));
    return fromWire(reply.output || {});
  }

  // The grpc.health.v1 status of `service` ('' is the whole server):
  // 'SERVING', 'NOT_SERVING', 'UNKNOWN' or 'SERVICE_UNKNOWN'.
  async health(service = '', { timeout_ms: callTimeout } = {}) {
    if (typeof service !== 'string') throw invalid(`service must be a string, got ${String(service)}`);
    const reply = await this._call(this._health, 'Check', { service }, timeoutMs('timeout_ms', callTimeout));
    return reply.status || 'UNKNOWN';
  }
}

module.exports = {
  Client,
  PoolcatError,
  DTYPES,
  status: grpc.status,
  bfloat16FromFloat32,
  float32FromBfloat16,
  toWire,
  fromWire,
};
