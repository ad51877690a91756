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
