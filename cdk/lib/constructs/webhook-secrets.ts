import { ArnFormat, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import type { TaskstreamConfig } from '../config';
import { acknowledge, nagText } from '../nag';
import type { RustFunction } from './rust-function';

export interface WebhookSecretsProps {
  readonly config: TaskstreamConfig;
}

/**
 * The signing secrets of webhook subscriptions: one Secrets Manager secret per subscription,
 * made, rotated and deleted at run time by the API (`{prefix}{tenant}/{subscription id}`,
 * shared/aws/src/webhooks/secrets.rs) and read by the notifier when it signs a delivery. No
 * secret is a stack resource; grants name the stage's prefix, so no function reaches another
 * stage's secrets or any other secret of the account.
 */
export class WebhookSecrets extends Construct {
  /** The name prefix of this stage's webhook secrets (`WEBHOOK_SECRET_PREFIX`). */
  readonly prefix: string;
  private readonly arns: string;

  constructor(scope: Construct, id: string, props: WebhookSecretsProps) {
    super(scope, id);
    this.prefix = `${props.config.stage}/taskstream/webhooks/`;
    // Secrets Manager appends six random characters to a secret's name in its ARN.
    this.arns = Stack.of(this).formatArn({
      service: 'secretsmanager',
      resource: 'secret',
      resourceName: `${this.prefix}*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
  }

  /** The function's environment: where the secrets are. */
  environment(): Record<string, string> {
    return { WEBHOOK_SECRET_PREFIX: this.prefix };
  }

  /** Create, read, rotate (put a new value) and delete subscriptions' secrets: the API. */
  grantManage(fn: RustFunction): void {
    this.grant(fn, [
      'secretsmanager:CreateSecret',
      'secretsmanager:GetSecretValue',
      'secretsmanager:PutSecretValue',
      'secretsmanager:DeleteSecret',
    ]);
  }

  /** Read subscriptions' secrets to sign deliveries: the notifier. */
  grantRead(fn: RustFunction): void {
    this.grant(fn, ['secretsmanager:GetSecretValue']);
  }

  private grant(fn: RustFunction, actions: string[]): void {
    fn.role.addToPrincipalPolicy(new iam.PolicyStatement({ actions, resources: [this.arns] }));
    acknowledge(
      fn.role,
      `IAM5[Resource::${nagText(Stack.of(this).resolve(this.arns))}]`,
      `${fn.handler} reaches the webhook signing secrets of this stage, one per subscription and named at run time by tenant and subscription id under ${this.prefix}; it reaches no other secret.`,
    );
  }
}
