/** The part of @ericcornelissen/bash-parser's output that policies/shell-parse.ts reads (the package ships no types). */
declare module '@ericcornelissen/bash-parser' {
  export interface BashNode {
    readonly type: string;
    readonly text?: string;
    readonly [key: string]: unknown;
  }
  export default function parse(source: string, options?: { mode?: 'posix' | 'bash' }): BashNode;
}
