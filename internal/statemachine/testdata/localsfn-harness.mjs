// Runs state-machine jobs through aws-local-stepfunctions, the reference
// executor of the differential test in node_test.go.
//
//   node localsfn-harness.mjs TOOLS_DIR < jobs.json > results.json
//
// A job is {definition, substitutions, input, context, handlers}; handlers
// map a Task Resource (after substitution) to a scripted behaviour:
//   {"result": V}                    return V (no "result": echo the input)
//   {"failFirst": N, "error", "cause"}   throw for the first N calls
//   {"failWhen": {"field", "equals"}, "error", "cause"}   throw when input[field] equals
// Waits and retry pauses are overridden to 0 ms. Each result is
// {status, output} or {status, error, cause}.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const require = createRequire(join(resolve(process.argv[2]), 'package.json'));
const { StateMachine } = require('aws-local-stepfunctions');

function substitute(value, subs) {
  if (typeof value === 'string') {
    return value.replace(/\$\{([^}]*)\}/g, (m, name) => (name in subs ? subs[name] : m));
  }
  if (Array.isArray(value)) return value.map((v) => substitute(v, subs));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [substitute(k, subs), substitute(v, subs)]));
  }
  return value;
}

function eachState(machine, fn) {
  for (const [name, state] of Object.entries(machine.States)) {
    fn(name, state);
    const inner = state.ItemProcessor ?? state.Iterator;
    if (inner) eachState(inner, fn);
    for (const branch of state.Branches ?? []) eachState(branch, fn);
  }
}

function namedError(name, cause) {
  const e = new Error(cause ?? '');
  e.name = name;
  return e;
}

function makeHandler(spec) {
  let calls = 0;
  return async (input) => {
    calls++;
    if (spec.failFirst && calls <= spec.failFirst) throw namedError(spec.error, spec.cause);
    if (spec.failWhen && input && JSON.stringify(input[spec.failWhen.field]) === JSON.stringify(spec.failWhen.equals)) {
      throw namedError(spec.error, spec.cause);
    }
    return 'result' in spec ? structuredClone(spec.result) : input;
  };
}

async function runJob(job) {
  const definition = substitute(job.definition, job.substitutions ?? {});
  const byResource = Object.fromEntries(Object.entries(job.handlers ?? {}).map(([r, spec]) => [r, makeHandler(spec)]));
  const taskResourceLocalHandlers = {};
  const waitTimeOverrides = {};
  const retryIntervalOverrides = {};
  eachState(definition, (name, state) => {
    if (state.Type === 'Task') {
      taskResourceLocalHandlers[name] =
        byResource[state.Resource] ??
        (async () => {
          throw namedError('NoHandler', `no handler for ${state.Resource}`);
        });
    }
    if (state.Type === 'Wait') waitTimeOverrides[name] = 0;
    if (state.Retry) retryIntervalOverrides[name] = 0;
  });
  const machine = new StateMachine(definition, { validationOptions: { checkArn: false } });
  const execution = machine.run(job.input, {
    overrides: { taskResourceLocalHandlers, waitTimeOverrides, retryIntervalOverrides },
    context: job.context,
  });
  try {
    return { status: 'SUCCEEDED', output: await execution.result };
  } catch (err) {
    const cause = err.cause ?? err;
    return { status: 'FAILED', error: cause.name, cause: cause.message };
  }
}

const jobs = JSON.parse(readFileSync(0, 'utf8'));
const results = [];
for (const job of jobs) {
  try {
    results.push(await runJob(job));
  } catch (err) {
    results.push({ status: 'HARNESS_ERROR', error: err.name, cause: String(err.message ?? err) });
  }
}
process.stdout.write(JSON.stringify(results));
