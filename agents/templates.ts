/**
 * The agent template library: `agents/templates/<name>.yaml`, each validated
 * with zod; a bad file throws YamlFileError naming the file, the line and the
 * path of each fault (config/yaml.ts), like a bad policy file does.
 */
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { REPO_ROOT } from '../config/index.js';
import { problemsOf, readYamlFile, readYamlText, YamlFileError, type YamlDocument } from '../config/yaml.js';
import { agentTemplateSchema, type AgentTemplate } from './schema.js';

export const TEMPLATES_DIR = resolve(REPO_ROOT, 'agents/templates');

function validate(doc: YamlDocument, expectedName: string | undefined): AgentTemplate {
  const result = agentTemplateSchema.safeParse(doc.value);
  if (!result.success) throw new YamlFileError(doc.file, problemsOf(result.error, (path, atKey) => doc.lineOf(path, atKey)));
  if (expectedName !== undefined && result.data.name !== expectedName) {
    throw new YamlFileError(doc.file, [{ line: doc.lineOf(['name']) || 1, path: 'name', message: `must equal the file name "${expectedName}"` }]);
  }
  return result.data;
}

/** One template from YAML text (`file` names it in errors). */
export function parseAgentTemplate(text: string, file: string): AgentTemplate {
  return validate(readYamlText(text, file), undefined);
}

/** Every template of a directory, by name, in file-name order. */
export function loadAgentTemplates(dir: string = TEMPLATES_DIR): Map<string, AgentTemplate> {
  const out = new Map<string, AgentTemplate>();
  for (const file of readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort()) {
    const template = validate(readYamlFile(join(dir, file)), file.replace(/\.ya?ml$/, ''));
    out.set(template.name, template);
  }
  return out;
}
