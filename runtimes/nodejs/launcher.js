#!/usr/bin/env node
// rwhisk's Node.js launcher: the long-lived process of whisk-proxy's actionloop mode.
//
//   launcher.js <code path> <main>
//
// <code path> is a single source file (the proxy wrote /init's code there) or a directory
// (an unpacked zip, with package.json "main" or index.js, and its node_modules). <main> names
// the entry point (default "main"; a dotted path such as "handlers.hello" is followed).
//
// Protocol (see crates/whisk-proxy/src/executor/actionloop.rs): after loading the code it
// writes {"ok":true} on fd 3, or a JSON string "Initialization has failed due to: ..." and
// exits. Then, per line on stdin (the /run body as JSON), it sets process.env.__OW_<KEY> for
// every key but "value", calls main(value), and writes one line on fd 3:
// - the result object (or array): a returned {error: ...} or a rejected promise
//   ({error: <the rejection>}) is an application error, decided by the invoker;
// - a JSON string for a developer error: "An error has occurred: ..." for a synchronous
//   throw, "The action did not return a dictionary." for a result that is no object.
// Its stdout and stderr are flushed before the line, so the proxy puts them before the
// sentinel. The action's own console output goes to the activation's logs.
//
// Concurrent runs (the action's limits.concurrency > 1: the invoker puts
// __OW_ALLOW_CONCURRENT=true in /init's env): the start-up line is
// {"ok":true,"concurrent":true}, each request line is "<tag> <body>" and each answer line
// "<tag> <answer>", in whatever order the runs end. Each run has its own context
// (AsyncLocalStorage), which follows its promises, timers and callbacks: whatever it
// writes to stdout or stderr goes out as whole lines "\x1e<tag> <text>" (see
// whisk_protocol::tag_line), and process.env.__OW_* reads its own keys, so concurrent
// activations never see each other's id, deadline or API key.
'use strict';

const fs = require('fs');
const path = require('path');
const readline = require('readline');
const vm = require('vm');
const { createRequire } = require('module');

const { AsyncLocalStorage } = require('async_hooks');

const ANSWER_FD = 3;
const TAG_MARK = '\x1e';
const NOT_A_DICTIONARY = 'The action did not return a dictionary.';
const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** Writes one line of JSON text on fd 3 (blocking, whole). */
function writeAnswer(json) {
  const bytes = Buffer.from(json + '\n', 'utf8');
  let offset = 0;
  while (offset < bytes.length) {
    offset += fs.writeSync(ANSWER_FD, bytes, offset);
  }
}

/**
 * Resolves once everything written to stdout and stderr so far has left the process. A
 * stream's writableLength counts the bytes of writes not yet completed; when it is zero
 * (the usual case: Node.js writes pipes synchronously on Linux) there is nothing to wait for.
 */
function flushLogs() {
  const pending = [process.stdout, process.stderr].filter((stream) => stream.writableLength > 0);
  return Promise.all(pending.map((stream) => new Promise((resolve) => stream.write('', resolve))));
}

/** Follows a dotted name ("a.b") from `target`. */
function follow(target, names) {
  for (const name of names) {
    if (target === undefined || target === null) return undefined;
    target = target[name];
  }
  return target;
}

/**
 * Runs a single source file like a CommonJS module, and returns what `mainName` means in
 * it: a top-level declaration (`function main(params) {...}`, as OpenWhisk's Node.js
 * runtime finds it), or else an export (`exports.main = ...`).
 */
function loadSource(file, mainName) {
  let source = fs.readFileSync(file, 'utf8');
  if (source.charCodeAt(0) === 0xfeff) source = source.slice(1);
  if (source.startsWith('#!')) source = '//' + source.slice(2);
  const names = mainName.split('.');
  const first = names[0];
  // The code starts on the wrapper's first line, so line numbers in stack traces hold.
  const lookup = IDENTIFIER.test(first) ? `typeof ${first} === 'undefined' ? undefined : ${first}` : 'undefined';
  const wrapper = `(function (exports, require, module, __filename, __dirname) {${source}\n;return ${lookup};\n})`;
  const compiled = vm.runInThisContext(wrapper, { filename: file });
  const module = { exports: {}, filename: file, id: file, loaded: false };
  const local = compiled.call(module.exports, module.exports, createRequire(file), module, file, path.dirname(file));
  module.loaded = true;
  const found = follow(local, names.slice(1));
  return typeof found === 'function' ? found : follow(module.exports, names);
}

/** Loads the action and returns its entry point; throws a string for a bad action. */
function load(codePath, mainName) {
  let entry;
  if (fs.statSync(codePath).isDirectory()) {
    const hasPackage = fs.existsSync(path.join(codePath, 'package.json'));
    if (!hasPackage && !fs.existsSync(path.join(codePath, 'index.js'))) {
      throw 'Zipped actions must contain either package.json or index.js at the root.';
    }
    process.chdir(codePath);
    entry = follow(require(codePath), mainName.split('.'));
  } else {
    process.chdir(path.dirname(codePath));
    entry = loadSource(codePath, mainName);
  }
  if (typeof entry !== 'function') {
    throw `Action entrypoint '${mainName}' is not a function.`;
  }
  return entry;
}

/** A rejection as a JSON value: an Error becomes {name, message, stack, ...its own fields}. */
function serializeError(error) {
  if (!(error instanceof Error)) return error;
  const out = { name: error.name, message: error.message, stack: error.stack };
  for (const key of Object.keys(error)) {
    out[key] = error[key] instanceof Error ? serializeError(error[key]) : error[key];
  }
  return out;
}

/** A developer error's answer: its message as a JSON string. */
function developerError(message) {
  return JSON.stringify(message);
}

/** Calls the entry point; returns the answer as JSON text: a result, or a developer error. */
async function invoke(main, args) {
  let result;
  try {
    result = main(args);
  } catch (error) {
    console.error(error);
    return developerError('An error has occurred: ' + error);
  }
  if (result && typeof result.then === 'function') {
    try {
      result = await result;
    } catch (error) {
      result = { error: error ? serializeError(error) : {} };
    }
  }
  if (result === undefined) return '{}';
  let text;
  try {
    text = result === null || typeof result !== 'object' ? undefined : JSON.stringify(result);
  } catch (error) {
    console.error(error);
    return developerError('An error has occurred: ' + error);
  }
  // Objects that serialize to something else (a Date, a String object) are no dictionary.
  if (text === undefined || (text[0] !== '{' && text[0] !== '[')) {
    console.error(`Result must be of type object but has type "${typeof result}":`, result);
    return developerError(NOT_A_DICTIONARY);
  }
  return text;
}

/** Sets __OW_<KEY> for the request's keys; removes those of the previous run it lacks. */
function exportContext(request, previous) {
  const names = [];
  for (const [key, value] of Object.entries(request)) {
    if (key === 'value') continue;
    const name = '__OW_' + key.toUpperCase();
    process.env[name] = typeof value === 'string' ? value : JSON.stringify(value);
    names.push(name);
  }
  for (const name of previous) {
    if (!names.includes(name)) delete process.env[name];
  }
  return names;
}

/**
 * The request lines on stdin. Made before the start-up line, with the code paths of a run
 * exercised once on a stand-in (see warmUp): whatever Node.js loads or compiles on first
 * use (process.stdin, readline's async iterator, JSON, promises) is then paid during
 * /init, not by the first activation (which took 7 to 8 ms more than the next without it).
 */
function requestLines() {
  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity, terminal: false });
  const iterator = lines[Symbol.asyncIterator]();
  return { [Symbol.asyncIterator]: () => iterator };
}

/** Runs a stand-in action through the path of a run, without writing an answer. */
async function warmUp() {
  const request = JSON.parse('{"value":{"warm":true},"activation_id":"0","deadline":"0"}');
  await invoke((args) => Promise.resolve({ echo: args }), request.value);
  await invoke((args) => ({ echo: args }), request.value);
  exportContext({}, exportContext(request, []));
  Buffer.from(JSON.stringify(request) + '\n', 'utf8');
  await flushLogs();
}

async function serve(main, lines) {
  let exported = [];
  for await (const line of lines) {
    let request;
    try {
      request = JSON.parse(line);
    } catch (error) {
      await flushLogs();
      writeAnswer(developerError('The action runtime received a request that is not JSON: ' + error.message));
      continue;
    }
    if (request === null || typeof request !== 'object') request = {};
    exported = exportContext(request, exported);
    const outcome = await invoke(main, request.value === undefined ? {} : request.value);
    await flushLogs();
    writeAnswer(outcome);
  }
  // The proxy closed stdin: the container is going away.
  await flushLogs();
  process.exit(0);
}

/** The run whose code is executing now (concurrent mode). */
const runs = new AsyncLocalStorage();

/**
 * Makes writes to `stream` made while a run's code executes go out as that run's tagged
 * whole lines; the start of a line waits in the run's context for its end (or for the end
 * of the run). Writes made outside any run pass unchanged.
 */
function tagWrites(stream, name) {
  const write = stream.write.bind(stream);
  stream.write = function (chunk, encoding, callback) {
    const run = runs.getStore();
    if (!run) return write(chunk, encoding, callback);
    if (typeof encoding === 'function') {
      callback = encoding;
      encoding = undefined;
    }
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString(encoding || 'utf8');
    const parts = (run.partial[name] + text).split('\n');
    run.partial[name] = parts.pop();
    if (parts.length > 0) write(parts.map((line) => TAG_MARK + run.tag + ' ' + line + '\n').join(''));
    if (typeof callback === 'function') process.nextTick(callback);
    return true;
  };
  return write;
}

/** process.env, with the __OW_* keys of the run whose code executes now. */
function envPerRun(base) {
  const own = (key) => {
    const run = runs.getStore();
    return run && typeof key === 'string' && Object.prototype.hasOwnProperty.call(run.env, key) ? run.env : null;
  };
  return new Proxy(base, {
    get: (target, key) => (own(key) || target)[key],
    has: (target, key) => Boolean(own(key)) || key in target,
    ownKeys: (target) => {
      const run = runs.getStore();
      return [...new Set([...Reflect.ownKeys(target), ...(run ? Object.keys(run.env) : [])])];
    },
    getOwnPropertyDescriptor: (target, key) => {
      const env = own(key);
      if (!env) return Reflect.getOwnPropertyDescriptor(target, key);
      return { value: env[key], writable: true, enumerable: true, configurable: true };
    },
  });
}

/** The run's __OW_<KEY> variables. */
function runEnv(request) {
  const env = {};
  for (const [key, value] of Object.entries(request)) {
    if (key === 'value') continue;
    env['__OW_' + key.toUpperCase()] = typeof value === 'string' ? value : JSON.stringify(value);
  }
  return env;
}

async function serveConcurrent(main, lines) {
  const raw = { stdout: tagWrites(process.stdout, 'stdout'), stderr: tagWrites(process.stderr, 'stderr') };
  process.env = envPerRun(process.env);
  const running = new Set();
  for await (const line of lines) {
    const space = line.indexOf(' ');
    const tag = space < 0 ? line : line.slice(0, space);
    const run = { tag, env: {}, partial: { stdout: '', stderr: '' } };
    const done = runs.run(run, async () => {
      let outcome;
      try {
        let request = JSON.parse(line.slice(space + 1));
        if (request === null || typeof request !== 'object') request = {};
        run.env = runEnv(request);
        outcome = await invoke(main, request.value === undefined ? {} : request.value);
      } catch (error) {
        outcome = developerError('The action runtime received a request that is not JSON: ' + error.message);
      }
      // The start of a line the run left open ends with it.
      for (const name of ['stdout', 'stderr']) {
        if (run.partial[name] !== '') raw[name](TAG_MARK + tag + ' ' + run.partial[name] + '\n');
        run.partial[name] = '';
      }
      await flushLogs();
      writeAnswer(tag + ' ' + outcome);
    });
    running.add(done);
    done.finally(() => running.delete(done));
  }
  await Promise.allSettled([...running]);
  await flushLogs();
  process.exit(0);
}

function start() {
  const [codePath = '.', mainName = 'main'] = process.argv.slice(2);
  const acknowledge = Boolean(process.env.__OW_WAIT_FOR_ACK);
  delete process.env.__OW_WAIT_FOR_ACK;
  const concurrent = process.env.__OW_ALLOW_CONCURRENT === 'true';
  process.on('unhandledRejection', (reason) => {
    console.error('Unhandled promise rejection:', reason);
  });
  let main;
  try {
    main = load(path.resolve(codePath), mainName || 'main');
  } catch (error) {
    console.error('Error during initialization:', error);
    const text = error && error.stack ? String(error.stack) : String(error);
    flushLogs().then(() => {
      writeAnswer(developerError('Initialization has failed due to: ' + text));
      process.exit(1);
    });
    return;
  }
  const lines = requestLines();
  const warm = concurrent ? runs.run({ tag: '0', env: {}, partial: { stdout: '', stderr: '' } }, warmUp) : warmUp();
  warm.then(() => {
    if (acknowledge) writeAnswer(concurrent ? '{"ok":true,"concurrent":true}' : '{"ok":true}');
    return concurrent ? serveConcurrent(main, lines) : serve(main, lines);
  });
}

start();
