/**
 * The shell policy's view of a command: a real parse (bash-parser, pure JS so
 * that it runs inside the workflow bundle, deterministic, no I/O) split into
 * simple commands whose words are unquoted, and the risk classes no regex on
 * the raw text can see: `r""m`, `rm${IFS}-rf`, `{rm,-rf,x}`, `python3 -c …`,
 * `… | bash`, `./script.sh`.
 *
 * Where the parser or this analysis cannot know what will run, the command is
 * put in a class (never left unclassified), so a policy can gate or deny it:
 * - `unparseable`: the parser refused it (including bash syntax it lacks,
 *   such as `<(…)` and `<<<`) or it is too long to parse;
 * - `dynamic`: what runs is decided at run time: `eval`, `source`/`.`,
 *   `trap`, `alias`, an expansion, glob or brace expansion in command
 *   position, or an assignment to a variable that changes what runs (PATH,
 *   LD_PRELOAD, BASH_ENV, IFS…);
 * - `interpreter`: a shell or language interpreter given code inline
 *   (`bash -c`, `python -c`, `node -e`, `perl -e`…) or on standard input
 *   (`… | bash`, `bash < f`), awk calling `system`, sed's `e` command;
 * - `script`: a file in the workspace is run (`./x.sh`, `bash x.sh`,
 *   `python3 x.py`, `python3 -m mod`): its content was written by the agent
 *   and is not what the approvers see.
 * Build tools (`make`, `npm test`) also run workspace code; they are left to
 * the policy's rules and the sandbox, as before.
 */
import parseBash, { type BashNode } from '@ericcornelissen/bash-parser';

export const SHELL_CLASSES = ['dynamic', 'interpreter', 'script', 'unparseable'] as const;
export type ShellClass = (typeof SHELL_CLASSES)[number];

export interface ShellAnalysis {
  /** Every simple command (nested `$(…)` and `-exec` ones included) as its words after quote removal. */
  readonly commands: readonly (readonly string[])[];
  readonly classes: readonly ShellClass[];
}

/** Longer input is not parsed (the tool refuses commands over 16 KiB anyway); it is `unparseable`. */
export const MAX_PARSED_LENGTH = 64 * 1024;

const SHELLS = new Set(['sh', 'bash', 'dash', 'zsh', 'ksh', 'mksh', 'ash', 'yash', 'posh', 'fish', 'csh', 'tcsh', 'su', 'busybox', 'script']);
/** Per interpreter family: the option that takes the program inline. */
const INLINE_FLAG: ReadonlyArray<readonly [RegExp, RegExp]> = [
  [/^python[0-9.]*$|^pypy[0-9.]*$/, /^-[A-Za-z]*c/],
  [/^(node|nodejs|bun)$/, /^(-[A-Za-z]*[ep]|--eval|--print)/],
  [/^deno$/, /^(eval$|-[A-Za-z]*e|--eval)/],
  [/^perl[0-9.]*$/, /^-[A-Za-z]*[eE]/],
  [/^(ruby|jruby)$/, /^-[A-Za-z]*e/],
  [/^php[0-9.]*$/, /^-[rRBE]/],
  [/^(lua[0-9.]*|luajit|Rscript|R|julia|expect|tclsh|wish|osascript|gdb|jshell|groovy|scala|erl|elixir|guile|racket|sbcl)$/, /^(-[A-Za-z]*[ecx]|--eval|--expression|--execute|-batch)/],
];
const AWKS = /^(awk|gawk|mawk|nawk|busybox-awk)$/;
/** Commands that run their arguments as a command. Their options are skipped to find it. */
const WRAPPERS = new Set([
  'env', 'command', 'builtin', 'exec', 'nohup', 'time', 'nice', 'ionice', 'timeout', 'stdbuf', 'setsid', 'xargs', 'sudo', 'doas',
  'chroot', 'unshare', 'strace', 'ltrace', 'flock', 'taskset', 'numactl', 'chrt', 'runuser', 'nsenter', 'firejail', 'coproc', 'watch',
]);
/** Builtins whose arguments become code. */
const DYNAMIC_BUILTINS = new Set(['eval', 'source', '.', 'trap', 'alias', 'enable', 'fc', 'let', 'mapfile', 'readarray', 'complete', 'bind']);
/** Variables that change which program runs or what it loads. */
const DANGEROUS_VARIABLES = /^(PATH|IFS|LD_[A-Z_]+|BASH_ENV|ENV|PROMPT_COMMAND|PS[0-4]|SHELLOPTS|BASHOPTS|CDPATH|GLOBIGNORE|BASH_FUNC_\w*|PYTHONPATH|PYTHONSTARTUP|PYTHONHOME|NODE_OPTIONS|NODE_PATH|PERL5OPT|PERL5LIB|PERLLIB|RUBYOPT|RUBYLIB|GIT_SSH_COMMAND|GIT_EXEC_PATH|GIT_CONFIG\w*|LESSOPEN|EDITOR|VISUAL|PAGER)=/;
/** Words that mean "print the version/help", not "read a program from standard input". */
const INFO_FLAGS = new Set(['--version', '-V', '--help', '-h', '-v', 'version', 'help']);
/** System directories whose programs are named by their base name (`/usr/bin/rm` is `rm`). */
const SYSTEM_BIN = /^\/(usr\/)?(local\/)?s?bin\/[^/]+$/;

function isOption(word: string): boolean {
  return word.startsWith('-') || word.startsWith('+');
}

/** An expansion, glob or brace expansion: the word's value is only known when the shell runs. */
function isDynamicWord(word: string): boolean {
  if (word === '[' || word === '[[') return false;
  return /[$`*?[~]/.test(word) || /\{[^}]*(,|\.\.)[^}]*\}/.test(word);
}

class Analyzer {
  readonly commands: string[][] = [];
  readonly classes = new Set<ShellClass>();

  /** Visits every node; each `Command` is one simple command (its nested nodes are visited too). */
  walk(node: unknown): void {
    if (Array.isArray(node)) {
      for (const child of node) this.walk(child);
      return;
    }
    if (node === null || typeof node !== 'object') return;
    const n = node as BashNode;
    if (n.type === 'Command') this.#command(n);
    for (const [key, value] of Object.entries(n)) {
      if (key !== 'loc' && key !== 'arithmeticAST' && typeof value === 'object') this.walk(value);
    }
  }

  #command(node: BashNode): void {
    const words: string[] = [];
    const name = node.name as BashNode | undefined;
    for (const part of [...((node.prefix as BashNode[] | undefined) ?? []), ...(name ? [name] : []), ...((node.suffix as BashNode[] | undefined) ?? [])]) {
      if (part.type === 'AssignmentWord' && DANGEROUS_VARIABLES.test(part.text ?? '')) this.classes.add('dynamic');
      if (part.type === 'Word' && part.text !== undefined) words.push(part.text);
    }
    if (words.length === 0) return;
    this.commands.push(words);
    if (name?.expansion !== undefined) this.classes.add('dynamic');
    this.#argv(words);
  }

  /** Classifies a command's words: its head, and through wrappers (`env`, `xargs`, `timeout 5`…) the command they run. */
  #argv(argv: readonly string[]): void {
    for (let i = 0; i < argv.length; i++) {
      const word = argv[i] as string;
      if (i > 0 && (isOption(word) || /^[0-9.]+[smhd]?$/.test(word))) continue;
      if (i > 0 && /^[A-Za-z_][A-Za-z0-9_]*=/.test(word)) {
        if (DANGEROUS_VARIABLES.test(word)) this.classes.add('dynamic');
        continue;
      }
      if (!this.#head(word, argv.slice(i + 1))) return;
    }
  }

  /** Classifies one command head with its arguments; true when it is a wrapper (the command it runs follows). */
  #head(word: string, args: readonly string[]): boolean {
    if (isDynamicWord(word)) {
      this.classes.add('dynamic');
      return false;
    }
    let base = word;
    if (word.includes('/')) {
      if (!SYSTEM_BIN.test(word)) {
        this.classes.add('script');
        return false;
      }
      base = word.slice(word.lastIndexOf('/') + 1);
    }
    if (WRAPPERS.has(base)) return true;
    if (DYNAMIC_BUILTINS.has(base)) this.classes.add('dynamic');
    else if (SHELLS.has(base)) this.#program(args, /^-[A-Za-z]*c/);
    else if (AWKS.test(base)) {
      if (args.some((a) => /system\s*\(|\|\s*getline|\|\s*"|print[^;]*\|/.test(a))) this.classes.add('interpreter');
    } else if (base === 'sed') {
      if (args.some((a) => /^-[A-Za-z]*f/.test(a))) this.classes.add('script');
      // sed's `e` command and the `e` flag of `s///e` run the pattern space as a shell command.
      if (args.some((a) => /(^|[;\n{}])\s*e(\s|$|;)/.test(a) || /^s(.).*\1.*\1[gpiImM0-9w]*e/.test(a))) this.classes.add('interpreter');
    } else if (base === 'find') {
      this.#findExec(args);
    } else {
      const family = INLINE_FLAG.find(([names]) => names.test(base));
      if (family) this.#program(args, family[1], base.startsWith('python') ? /^-[A-Za-z]*m/ : undefined);
    }
    return false;
  }

  /** An interpreter's program: inline (`-c`), on standard input (no operand, or `-`), or a file (`x.sh`). */
  #program(args: readonly string[], inline: RegExp, module?: RegExp): void {
    if (args.some((a) => inline.test(a))) {
      this.classes.add('interpreter');
      return;
    }
    if (module && args.some((a) => module.test(a))) {
      this.classes.add('script');
      return;
    }
    if (args.some((a) => INFO_FLAGS.has(a))) return;
    const operand = args.find((a) => !isOption(a) || a === '-');
    this.classes.add(operand === undefined || operand === '-' || args.includes('-s') ? 'interpreter' : 'script');
  }

  /** `find … -exec cmd … ;` runs cmd: it is a command of its own. */
  #findExec(args: readonly string[]): void {
    for (let i = 0; i < args.length; i++) {
      if (!/^-(exec|execdir|ok|okdir)$/.test(args[i] as string)) continue;
      const end = args.findIndex((a, j) => j > i && (a === ';' || a === '+'));
      const inner = args.slice(i + 1, end < 0 ? undefined : end);
      if (inner.length > 0) {
        this.commands.push([...inner]);
        this.#argv(inner);
      }
      if (end < 0) return;
      i = end;
    }
  }
}

/** Parses a shell command and classifies it. Pure and deterministic: it runs inside workflow code. */
export function analyzeShell(command: string): ShellAnalysis {
  if (command.length > MAX_PARSED_LENGTH) return { commands: [], classes: ['unparseable'] };
  let ast: BashNode;
  try {
    ast = parseBash(command);
  } catch {
    return { commands: [], classes: ['unparseable'] };
  }
  const analyzer = new Analyzer();
  analyzer.walk(ast);
  return { commands: analyzer.commands, classes: SHELL_CLASSES.filter((c) => analyzer.classes.has(c)) };
}
