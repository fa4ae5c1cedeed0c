'use strict';
// A charging station of each version, made with ocpp-rpc's RPCClient in
// strict mode (it validates what it sends and receives against the same
// OCA schemas), driven against a running examples/ocpp. It prints one
// line per case, "ok NAME" or "FAIL NAME<tab>why", then "done", and exits
// 1 if a case failed.
//
//   node station.js WS_BASE API_BASE PASSWORD
//
// WS_BASE is the stations' URL without the id (ws://HOST:PORT/ocpp),
// API_BASE the HTTP API's (http://HOST:PORT). The program must be run
// with -basic-auth giving PASSWORD to the stations node-ocpp1.6,
// node-ocpp2.0.1 and node-replaced, and a -call-timeout under 10s.

const { RPCClient, NOREPLY } = require('ocpp-rpc');

const [wsBase, apiBase, password] = process.argv.slice(2);
if (!password) {
    console.error('usage: node station.js WS_BASE API_BASE PASSWORD');
    process.exit(2);
}

let failed = false;

// run runs one case, bounded to 15s, and prints its outcome.
async function run(name, fn) {
    let timer;
    const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('no outcome within 15s')), 15000);
    });
    try {
        await Promise.race([fn(), timeout]);
        console.log(`ok ${name}`);
    } catch (err) {
        failed = true;
        console.log(`FAIL ${name}\t${err && err.message ? err.message : err}`);
    } finally {
        clearTimeout(timer);
    }
}

function check(cond, what) {
    if (!cond) {
        throw new Error(what);
    }
}

function client(identity, protocols, pw) {
    return new RPCClient({
        endpoint: wsBase,
        identity,
        password: pw,
        protocols,
        strictMode: true,
        reconnect: false,
        callTimeoutMs: 10000,
    });
}

// api sends a request to the HTTP API and returns its status and body.
async function api(method, path, body) {
    const res = await fetch(apiBase + path, {
        method,
        headers: { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: await res.json() };
}

// rawCall sends a CALL frame as it is, past strict mode's own checks,
// and resolves with the frame that answers it.
function rawCall(cli, id, action, payload) {
    return new Promise((resolve) => {
        const onMessage = ({ message, outbound }) => {
            if (outbound) {
                return;
            }
            let frame;
            try {
                frame = JSON.parse(message);
            } catch {
                return;
            }
            if (frame[1] === id) {
                cli.off('message', onMessage);
                resolve(frame);
            }
        };
        cli.on('message', onMessage);
        cli.sendRaw(JSON.stringify([2, id, action, payload]));
    });
}

const isTime = (s) => typeof s === 'string' && !Number.isNaN(Date.parse(s));

// Each version's payloads and the spelling of its codes.
const versions = {
    'ocpp1.6': {
        boot: { chargePointVendor: 'ocpp-rpc', chargePointModel: 'node' },
        status: { connectorId: 1, errorCode: 'NoError', status: 'Available' },
        connector: '1',
        statusValue: 'Available',
        get: 'GetConfiguration',
        getPayload: { key: ['HeartbeatInterval'] },
        getResult: { configurationKey: [{ key: 'HeartbeatInterval', readonly: false, value: '300' }] },
        format: 'FormationViolation',
        invalid: [
            ['missing property', 'BootNotification', { chargePointVendor: 'ocpp-rpc' }, 'OccurenceConstraintViolation'],
            ['wrong type', 'BootNotification', { chargePointVendor: 'ocpp-rpc', chargePointModel: 7 }, 'TypeConstraintViolation'],
            ['not in the enum', 'StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Flying' }, 'PropertyConstraintViolation'],
            ['additional property', 'Heartbeat', { beat: 1 }, 'FormationViolation'],
            ['unknown action', 'Fly', {}, 'NotImplemented'],
        ],
    },
    'ocpp2.0.1': {
        boot: { reason: 'PowerUp', chargingStation: { vendorName: 'ocpp-rpc', model: 'node' } },
        status: { timestamp: new Date().toISOString(), connectorStatus: 'Available', evseId: 1, connectorId: 1 },
        connector: '1/1',
        statusValue: 'Available',
        get: 'GetVariables',
        getPayload: { getVariableData: [{ component: { name: 'OCPPCommCtrlr' }, variable: { name: 'HeartbeatInterval' } }] },
        getResult: {
            getVariableResult: [{
                attributeStatus: 'Accepted', attributeValue: '300',
                component: { name: 'OCPPCommCtrlr' }, variable: { name: 'HeartbeatInterval' },
            }],
        },
        format: 'FormatViolation',
        invalid: [
            ['missing property', 'BootNotification', { reason: 'PowerUp', chargingStation: { model: 'node' } }, 'OccurenceConstraintViolation'],
            ['wrong type', 'BootNotification', { reason: 'PowerUp', chargingStation: { vendorName: 1, model: 'node' } }, 'TypeConstraintViolation'],
            ['not in the enum', 'BootNotification', { reason: 'Bored', chargingStation: { vendorName: 'v', model: 'node' } }, 'PropertyConstraintViolation'],
            ['additional property', 'Heartbeat', { beat: 1 }, 'FormatViolation'],
            ['unknown action', 'Fly', {}, 'NotImplemented'],
        ],
    },
};

async function station(version) {
    const v = versions[version];
    const id = `node-${version}`;
    const cli = client(id, [version], password);
    let got = null; // the payload of the call the station answers
    cli.handle(v.get, ({ params }) => {
        got = params;
        return v.getResult;
    });
    cli.handle('ClearCache', () => NOREPLY);

    await run(`${version} connect with Basic auth`, async () => {
        await cli.connect();
        check(cli.protocol === version, `protocol ${cli.protocol}`);
    });
    await run(`${version} BootNotification`, async () => {
        const r = await cli.call('BootNotification', v.boot);
        check(r.status === 'Accepted' && r.interval === 300 && isTime(r.currentTime), JSON.stringify(r));
    });
    await run(`${version} Heartbeat`, async () => {
        const r = await cli.call('Heartbeat', {});
        check(isTime(r.currentTime), JSON.stringify(r));
    });
    await run(`${version} StatusNotification`, async () => {
        const r = await cli.call('StatusNotification', v.status);
        check(Object.keys(r).length === 0, JSON.stringify(r));
        const list = await api('GET', '/stations');
        const st = list.body.find((s) => s.id === id);
        check(st && st.protocol === version && st.model === 'node' && st.connectors[v.connector] === v.statusValue,
            `GET /stations: ${JSON.stringify(list.body)}`);
    });
    await run(`${version} ${v.get} through the API, answered`, async () => {
        const r = await api('POST', `/stations/${id}/call`, { action: v.get, payload: v.getPayload });
        check(r.status === 200, `${r.status} ${JSON.stringify(r.body)}`);
        check(JSON.stringify(r.body.result) === JSON.stringify(v.getResult), `result ${JSON.stringify(r.body)}`);
        check(JSON.stringify(got) === JSON.stringify(v.getPayload), `the station received ${JSON.stringify(got)}`);
    });
    await run(`${version} ClearCache through the API, unanswered: 504`, async () => {
        const r = await api('POST', `/stations/${id}/call`, { action: 'ClearCache' });
        check(r.status === 504, `${r.status} ${JSON.stringify(r.body)}`);
    });
    await run(`${version} invalid call refused by strict mode before it is sent`, async () => {
        const [, action, payload] = v.invalid[0];
        const err = await cli.call(action, payload).then(() => null, (e) => e);
        check(err && err.rpcErrorCode, `call: ${err}`);
    });
    let n = 0;
    for (const [name, action, payload, code] of v.invalid) {
        await run(`${version} invalid call, ${name}: ${code}`, async () => {
            const msgId = `invalid-${++n}`;
            const frame = await rawCall(cli, msgId, action, payload);
            check(frame[0] === 4 && frame[2] === code && typeof frame[3] === 'string' && frame[3] !== '',
                `answered ${JSON.stringify(frame)}`);
        });
    }
    await cli.close({ code: 1000 });
}

async function main() {
    await station('ocpp1.6');
    await station('ocpp2.0.1');

    await run('wrong password refused with 401', async () => {
        const cli = client('node-ocpp1.6', ['ocpp1.6'], password + '-wrong');
        const err = await cli.connect().then(() => null, (e) => e);
        await cli.close({ force: true });
        check(err && err.code === 401, `connect: ${err}`);
    });
    await run('no version served: ws fails the handshake that has no subprotocol', async () => {
        const cli = client('node-ocpp1.6', ['ocpp2.1'], password);
        const err = await cli.connect().then(() => null, (e) => e);
        await cli.close({ force: true });
        check(err && err.message === 'Server sent no subprotocol', `connect: ${err}`);
    });
    await run('a second connection replaces the first, closed with its reason', async () => {
        const first = client('node-replaced', ['ocpp2.0.1'], password);
        const second = client('node-replaced', ['ocpp2.0.1'], password);
        await first.connect();
        // Answered once the server has registered the connection.
        await first.call('Heartbeat', {});
        const closed = new Promise((resolve) => first.once('close', resolve));
        await second.connect();
        const { code, reason } = await closed;
        const r = await second.call('Heartbeat', {});
        await second.close({ code: 1000 });
        check(code === 1000 && String(reason) === 'replaced by a newer connection of station node-replaced',
            `closed with ${code} ${reason}`);
        check(isTime(r.currentTime), JSON.stringify(r));
    });
    console.log('done');
    process.exit(failed ? 1 : 0);
}

main().catch((err) => {
    console.log(`FAIL script\t${err && err.stack ? err.stack : err}`);
    process.exit(1);
});
