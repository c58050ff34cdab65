import { regexProblem } from '/work/main/policies/schema.js';
import { PolicyStore } from '/work/main/policies/load.js';
import { evaluatePolicy } from '/work/main/policies/evaluate.js';
import { parseDurationMs } from '/work/main/policies/duration.js';
import { parseExecOutput } from '/work/main/sandbox/exec-script.js';
import { parseToolCall } from '/work/main/sandbox/tools.js';
import { resolveModelPolicy, modelPolicySchema } from '/work/main/router/model-policy.js';
import { ReadinessChecker } from '/work/main/observability/health.js';
import { loadConfig } from '/work/main/config/index.js';
const p = new PolicyStore('/work/main/policies/templates').get('standard')!;
for (const c of ['rm -rf x','curl http://x','git push','ls && rm a','sudo ls','ls -la','echo hello',"python3 -c 'print(1)'",'cat rmdir.txt','format','cat farm.txt','echo rm','/bin/rm -rf /','/usr/bin/curl http://x',"bash -c 'rm -rf /'",'"rm" -rf x','\\rm -rf x','ls;rm x','echo $(curl x)','x|curl y','ls\nrm -rf x','git   push','rm','apt list','npm install x','git push-x','xargs rm','find . -delete', 'python3 -c "import shutil; shutil.rmtree(\'/\')"'])
  console.log(JSON.stringify(c), evaluatePolicy(p, {name:'shell', arguments:{command:c}}).action);
for (const r of ['(a+)+$','((a+))+$','(a|aa)+$','(?<x>a)\\k<x>','\\\\1','(a*)*','(.*a){10}','[(]a+)','(','(?:a+)+', p.rules[0]!.match!.command!]) console.log(r, regexProblem(r));
let t=performance.now(); /((a+))+$/.test('a'.repeat(26)+'b'); console.log('nested ms', performance.now()-t);
t=performance.now(); /(a|aa)+$/.test('a'.repeat(36)+'b'); console.log('alt ms', performance.now()-t);
for (const d of ['250ms','90s','30m','2h','1d','1h30m','1.5h','0s','','soon','10','-1s','30m1h',' 5s ','1h 30m','5S']) console.log(JSON.stringify(d), parseDurationMs(d));
console.log(parseExecOutput(Buffer.from('KORTIX-EXEC x y z w\nabc'), 10));
console.log(parseExecOutput(Buffer.from('KORTIX-EXEC 0 0 5 0\nab'), 10));
console.log(parseToolCall('list_files', '{"path":"/workspace"}'), parseToolCall('read_file','{"path":"/workspace/"}'), parseToolCall('read_file','{"path":"a/.."}'));
console.log(parseToolCall('shell','{"command":"ls","timeout_seconds":null}'));
try { console.log(resolveModelPolicy(modelPolicySchema.parse({default:'constructor', policies:[{type:'x',model:'toString'}]}), 'f').default); } catch(e) { console.log('threw', (e as Error).message); }
const rc = new ReadinessChecker({ postgres: () => Promise.reject('down') }, 100);
rc.check().then(r => console.log('health', JSON.stringify(r)), e => console.log('health threw', String(e)));
try { loadConfig({ DATABASE_URL: 'mysql://root:hunter2@db/x' }); } catch (e) { console.log((e as Error).message); }
console.log(JSON.stringify(loadConfig({ DATABASE_URL: 'postgres://root:hunter2@db/x' })).includes('hunter2'));
try { loadConfig({ API_PORT: '' , WORKER_ROLES: ' , '}); } catch (e) { console.log((e as Error).message); }
