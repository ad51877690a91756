import { Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** The plugin name cdk-nag's AwsSolutionsChecks reports under. */
const PACK = 'AwsSolutions';

/**
 * Acknowledge one AwsSolutions finding on a construct (and everything below it).
 *
 * `rule` is the part after `AwsSolutions-`, e.g. `IAM5[Resource::*]`. The acknowledgement is
 * recorded under the pack's namespace, so the finding still appears in the validation report,
 * marked as acknowledged together with the reason.
 */
export function acknowledge(scope: IConstruct, rule: string, reason: string): void {
  Validations.of(scope).acknowledge({ id: `${PACK}::${PACK}-${rule}`, reason });
}

/**
 * A resource as cdk-nag names it in a finding: a pseudo parameter as `<AWS::Region>`, any
 * other intrinsic as its JSON.
 */
export function nagText(resolved: unknown): string {
  if (typeof resolved === 'string') return resolved;
  const join = (resolved as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
  if (join === undefined) return JSON.stringify(resolved);
  const part = (p: unknown): string => {
    if (typeof p === 'string') return p;
    const ref = (p as { Ref?: string }).Ref;
    return ref?.startsWith('AWS::') ? `<${ref}>` : JSON.stringify(p);
  };
  return join[1].map(part).join(join[0]);
}
