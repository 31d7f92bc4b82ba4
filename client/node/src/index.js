'use strict';
// Promise-based Node.js client for the poolcat.v1.PoolCat gRPC service.
//
// Tensors are plain objects { data, shape, dtype }: `data` a typed array in
// row-major (C) order, `shape` an array of dimension sizes, `dtype` one of
// DTYPES' names (inferred from the typed array where that is unambiguous).
// The proto is loaded at run time by @grpc/proto-loader from the repo's
// proto/ directory, so there is no generated code to keep in step.

const os = require('node:os');
const path = require('node:path');

const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

// dtype name -> wire enum name and the typed array holding its elements.
// float16 and bfloat16 travel as their raw 16-bit patterns in a Uint16Array.
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

const STATUS_NAMES = Object.fromEntries(
  Object.entries(grpc.status).map(([name, code]) => [code, name]));

// A failed call: the gRPC status code (number), its name, and the message.
// Arguments the client cannot encode (bad shape, unsupported dtype) reject
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
  longs: Number, // Shapes and indices fit in 2^53 long before memory runs out.
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
  let dtype = tensor.dtype;
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

function oneInt(name, value) {
  const v = typeof value === 'bigint' ? Number(value) : value;
  if (!Number.isSafeInteger(v)) throw invalid(`${name} must be an integer, got ${String(value)}`);
  return v;
}

// A number for every spatial dimension or an array of them, as PyTorch
// takes. undefined, or the single number `defaultValue`, gives [] (the wire's
// "default"); null entries become `noneMeans`.
function intList(name, value, { defaultValue, noneMeans } = {}) {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) {
    const v = oneInt(name, value);
    return v === defaultValue ? [] : [v];
  }
  return value.map((v, i) => (v === null && noneMeans !== undefined ?
    noneMeans : oneInt(`${name}[${i}]`, v)));
}

class Client {
  // options:
  //   target: gRPC target (default 'localhost:50051').
  //   timeoutMs: default deadline of each call in milliseconds (none if unset).
  //   credentials: grpc.credentials.createSsl(...) for TLS; insecure if unset.
  //   channelOptions: extra grpc-js channel options.
  //   protoDir: directory holding poolcat/v1/poolcat.proto (default: the
  //     repo's proto/, or $POOLCAT_PROTO_DIR).
  constructor(options = {}) {
    if (!LITTLE_ENDIAN_HOST) throw new Error('poolcat-client needs a little-endian host');
    const {
      target = 'localhost:50051', timeoutMs, credentials, channelOptions = {},
      protoDir = defaultProtoDir(),
    } = options;
    const definition = protoLoader.loadSync('poolcat/v1/poolcat.proto',
      { ...LOADER_OPTIONS, includeDirs: [protoDir] });
    const PoolCat = grpc.loadPackageDefinition(definition).poolcat.v1.PoolCat;
    const Health = grpc.loadPackageDefinition(
      protoLoader.fromJSON(HEALTH_JSON, LOADER_OPTIONS)).grpc.health.v1.Health;
    // The server takes up to --max_message_bytes (256 MiB by default), far
    // over grpc-js's 4 MiB receive default, so the limit is left to it.
    const channelOpts = {
      'grpc.max_receive_message_length': -1,
      'grpc.max_send_message_length': -1,
      ...channelOptions,
    };
    const creds = credentials || grpc.credentials.createInsecure();
    this._stub = new PoolCat(target, creds, channelOpts);
    // The health stub shares the PoolCat stub's channel.
    this._health = new Health(target, creds, { ...channelOpts, channelOverride: this._stub.getChannel() });
    this._timeoutMs = timeoutMs;
  }

  close() {
    this._stub.close();
  }

  _call(stub, method, request, timeoutMs) {
    const ms = timeoutMs === undefined ? this._timeoutMs : timeoutMs;
    const callOptions = ms === undefined ? {} : { deadline: Date.now() + ms };
    return new Promise((resolve, reject) => {
      stub[method](request, callOptions, (err, reply) => {
        if (err) reject(new PoolcatError(err.code, err.details || err.message));
        else resolve(reply);
      });
    });
  }

  // torch.nn.functional.<op>(x, ...) on the server.
  //   op: 'max_pool2d', 'avg_pool1d', 'lp_pool2d', 'adaptive_max_pool3d', ...
  //   x: { data, shape, dtype? }, (N, C, *spatial) or (C, *spatial); with
  //     channelsLast, (N, *spatial, C) or (*spatial, C).
  //   options (PyTorch's arguments, camelCase): kernelSize, stride, padding,
  //     dilation, outputSize (a number for every spatial dim or an array;
  //     null in outputSize keeps that dim), ceilMode, countIncludePad,
  //     divisorOverride, normType, channelsLast, returnIndices, timeoutMs.
  // Resolves to a tensor, or { output, indices } with returnIndices.
  // Rejects with PoolcatError.
  async pool(op, x, options = {}) {
    const o = options;
    const request = {
      op,
      input: toWire(x, 'x'),
      kernel_size: intList('kernelSize', o.kernelSize),
      stride: intList('stride', o.stride),
      // Empty means 0 / 1 on the wire, so defaults are left empty.
      padding: intList('padding', o.padding, { defaultValue: 0 }),
      dilation: intList('dilation', o.dilation, { defaultValue: 1 }),
      output_size: intList('outputSize', o.outputSize, { noneMeans: -1 }),
      ceil_mode: Boolean(o.ceilMode),
      channels_last: Boolean(o.channelsLast),
      return_indices: Boolean(o.returnIndices),
    };
    if (o.countIncludePad === false) request.count_include_pad = false;
    if (o.divisorOverride !== undefined && o.divisorOverride !== null) {
      request.divisor_override = oneInt('divisorOverride', o.divisorOverride);
    }
    if (o.normType !== undefined && o.normType !== null) {
      if (typeof o.normType !== 'number') throw invalid(`normType must be a number, got ${String(o.normType)}`);
      request.norm_type = o.normType;
    }
    const reply = await this._call(this._stub, 'Pool', request, o.timeoutMs);
    const output = fromWire(reply.output || {});
    if (!o.returnIndices) return output;
    if (!reply.indices) throw new PoolcatError(grpc.status.INTERNAL, 'server sent no indices for returnIndices');
    return { output, indices: fromWire(reply.indices) };
  }

  // torch.cat(tensors, dim) on the server, with torch's dtype promotion.
  async concat(tensors, dim = 0, { timeoutMs } = {}) {
    if (!Array.isArray(tensors)) throw invalid('tensors must be an array');
    const request = {
      tensors: tensors.map((t, i) => toWire(t, `tensors[${i}]`)),
      dim: oneInt('dim', dim),
    };
    const reply = await this._call(this._stub, 'Concat', request, timeoutMs);
    return fromWire(reply.output || {});
  }

  // The grpc.health.v1 status of `service` ('' is the whole server):
  // 'SERVING', 'NOT_SERVING', 'UNKNOWN' or 'SERVICE_UNKNOWN'.
  async health(service = '', { timeoutMs } = {}) {
    const reply = await this._call(this._health, 'Check', { service }, timeoutMs);
    return reply.status || 'UNKNOWN';
  }
}

module.exports = { Client, PoolcatError, DTYPES, toWire, fromWire };
