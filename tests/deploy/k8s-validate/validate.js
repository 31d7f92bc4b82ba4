#!/usr/bin/env node
// Offline checks of rendered Kubernetes manifests (the output of
// `kubectl kustomize`), three per object:
//
//  1. schema: the object validates against the Kubernetes OpenAPI schema of
//     its apiVersion and kind (npm kubernetes-models; prometheus-operator
//     kinds from @kubernetes-models/prometheus-operator). A kind with no
//     known schema is an error, not a pass.
//  2. strict: no field the schema does not define. The models' validators
//     ignore unknown fields (a misspelt `readinessProbes:` would pass and be
//     dropped by the API server), so the object is validated through a proxy
//     that records every field the validator reads; a field it never read
//     is one the schema does not know.
//  3. policy, for everything that runs pods: every container has liveness
//     and readiness probes, CPU and memory requests and limits, runs as
//     non-root with a read-only root filesystem, no privilege escalation,
//     all capabilities dropped, a RuntimeDefault (or Localhost) seccomp
//     profile, and an image pinned to a tag other than `latest` (or a
//     digest).
//
//   node validate.js FILE.yaml...
//
// Prints one line per object, then every problem as
// "FILE: Kind/name: path: message"; exits 1 if there is any problem, 2 on
// bad usage.
'use strict';

const fs = require('fs');
const YAML = require('yaml');

// Model packages, tried in order: `${pkg}/${apiVersion}/${kind}` (core
// group objects are under "v1").
const MODEL_PACKAGES = [
  'kubernetes-models',
  '@kubernetes-models/prometheus-operator',
];

function findModel(apiVersion, kind) {
  if (typeof apiVersion !== 'string' || typeof kind !== 'string' ||
      !/^[a-z0-9.-]+(\/[a-z0-9]+)?$/.test(apiVersion) ||
      !/^[A-Za-z0-9]+$/.test(kind)) {
    return null;
  }
  for (const pkg of MODEL_PACKAGES) {
    let mod;
    try {
      mod = require(`${pkg}/${apiVersion}/${kind}`);
    } catch (e) {
      if (e.code === 'MODULE_NOT_FOUND' ||
          e.code === 'ERR_PACKAGE_PATH_NOT_EXPORTED') {
        continue;
      }
      throw e;
    }
    if (typeof mod[kind] === 'function') return mod[kind];
  }
  return null;
}

// Wraps `root` so that every property read of an object (at any depth) is
// recorded; `nodes` collects [path, target, readKeys] for every object the
// validator reached.
function recordingProxy(root, nodes) {
  const proxies = new WeakMap();
  function wrap(value, path) {
    if (value === null || typeof value !== 'object') return value;
    if (proxies.has(value)) return proxies.get(value);
    const read = new Set();
    if (!Array.isArray(value)) nodes.push([path, value, read]);
    const proxy = new Proxy(value, {
      get(target, prop, receiver) {
        const child = Reflect.get(target, prop, receiver);
        if (typeof prop !== 'string' ||
            !Object.prototype.hasOwnProperty.call(target, prop)) {
          return child;
        }
        read.add(prop);
        const childPath = Array.isArray(target) ? `${path}[${prop}]`
                                                : joinPath(path, prop);
        return wrap(child, childPath);
      },
    });
    proxies.set(value, proxy);
    return proxy;
  }
  return wrap(root, '');
}

function joinPath(path, key) {
  const part = /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? key
                                                     : JSON.stringify(key);
  return path ? `${path}.${part}` : part;
}

function checkSchemaAndFields(Model, object, report) {
  const nodes = [];
  const proxy = recordingProxy(object, nodes);
  try {
    // The model's validate() runs the compiled schema on `this`.
    Model.prototype.validate.call(proxy);
  } catch (e) {
    report('', `schema: ${e.message}`);
    // Fields below a node that failed its type check were never read:
    // reporting them as unknown would only add noise.
    return;
  }
  for (const [path, target, read] of nodes) {
    for (const key of Object.keys(target)) {
      if (!read.has(key)) {
        report(joinPath(path, key), 'unknown field (not in the schema)');
      }
    }
  }
}

// The pod spec of an object that runs pods, and its path; null otherwise.
function podSpecOf(object) {
  const spec = object.spec || {};
  switch (object.kind) {
    case 'Pod':
      return [spec, 'spec'];
    case 'Deployment':
    case 'StatefulSet':
    case 'DaemonSet':
    case 'ReplicaSet':
    case 'ReplicationController':
    case 'Job':
      return [(spec.template || {}).spec || {}, 'spec.template.spec'];
    case 'CronJob':
      return [
        (((spec.jobTemplate || {}).spec || {}).template || {}).spec || {},
        'spec.jobTemplate.spec.template.spec',
      ];
    default:
      return null;
  }
}

function imageProblem(image) {
  if (typeof image !== 'string' || image === '') return 'no image';
  if (/@sha256:[0-9a-f]{64}$/.test(image)) return null;
  const lastSlash = image.lastIndexOf('/');
  const colon = image.lastIndexOf(':');
  if (colon <= lastSlash) {
    return `image "${image}" has no tag (it means :latest); pin a version`;
  }
  if (image.slice(colon + 1) === 'latest') {
    return `image "${image}" uses the tag "latest"; pin a version`;
  }
  return null;
}

function checkPolicy(object, report) {
  const found = podSpecOf(object);
  if (!found) return;
  const [pod, podPath] = found;
  const podSecurity = pod.securityContext || {};
  const groups = [['containers', true], ['initContainers', false]];
  let containerCount = 0;
  for (const [field, needsProbes] of groups) {
    (pod[field] || []).forEach((c, i) => {
      containerCount++;
      const path = `${podPath}.${field}[${i}]`;
      const problem = (what) => report(path, `(${c.name}) ${what}`);
      if (needsProbes) {
        for (const probe of ['livenessProbe', 'readinessProbe']) {
          if (!c[probe]) problem(`no ${probe}`);
        }
      }
      const resources = c.resources || {};
      for (const kind of ['requests', 'limits']) {
        for (const resource of ['cpu', 'memory']) {
          if (!(resources[kind] || {})[resource]) {
            problem(`no resources.${kind}.${resource}`);
          }
        }
      }
      const sc = c.securityContext || {};
      const runAsNonRoot = sc.runAsNonRoot ?? podSecurity.runAsNonRoot;
      if (runAsNonRoot !== true) problem('runAsNonRoot is not true');
      const runAsUser = sc.runAsUser ?? podSecurity.runAsUser;
      if (runAsUser === 0) problem('runAsUser is 0 (root)');
      if (sc.readOnlyRootFilesystem !== true) {
        problem('readOnlyRootFilesystem is not true');
      }
      if (sc.allowPrivilegeEscalation !== false) {
        problem('allowPrivilegeEscalation is not false');
      }
      if (sc.privileged === true) problem('privileged');
      const drop = ((sc.capabilities || {}).drop) || [];
      if (!drop.includes('ALL')) problem('capabilities.drop lacks "ALL"');
      const seccomp = (sc.seccompProfile || podSecurity.seccompProfile || {})
          .type;
      if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost') {
        problem('seccompProfile.type is not RuntimeDefault or Localhost');
      }
      const image = imageProblem(c.image);
      if (image) problem(image);
    });
  }
  if (containerCount === 0) report(podPath, 'no containers');
}

function main(argv) {
  const files = argv.slice(2);
  if (files.length === 0 || files.some((f) => f.startsWith('-'))) {
    console.error('usage: node validate.js FILE.yaml...');
    return 2;
  }
  let problems = 0;
  let objects = 0;
  for (const file of files) {
    const docs = YAML.parseAllDocuments(fs.readFileSync(file, 'utf8'));
    docs.forEach((doc, index) => {
      const where = `${file}: document ${index + 1}`;
      if (doc.errors.length > 0) {
        for (const e of doc.errors) console.log(`${where}: YAML: ${e.message}`);
        problems += doc.errors.length;
        return;
      }
      const object = doc.toJS();
      if (object === null || object === undefined) return;  // empty document
      objects++;
      if (typeof object !== 'object' || Array.isArray(object)) {
        console.log(`${where}: not a Kubernetes object`);
        problems++;
        return;
      }
      const name = `${object.kind}/${(object.metadata || {}).name}`;
      const report = (path, message) => {
        problems++;
        console.log(`${file}: ${name}: ${path ? path + ': ' : ''}${message}`);
      };
      const Model = findModel(object.apiVersion, object.kind);
      if (!Model) {
        report('', `no schema known for apiVersion "${object.apiVersion}" ` +
                   `kind "${object.kind}"`);
        return;
      }
      checkSchemaAndFields(Model, object, report);
      checkPolicy(object, report);
      console.log(`checked ${object.apiVersion} ${name}`);
    });
  }
  if (objects === 0) {
    console.log('no Kubernetes objects found');
    problems++;
  }
  console.log(`${objects} objects, ${problems} problems`);
  return problems === 0 ? 0 : 1;
}

process.exitCode = main(process.argv);
