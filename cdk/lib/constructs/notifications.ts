import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as ses from 'aws-cdk-lib/aws-ses';
import { Construct } from 'constructs';
import type { TaskstreamConfig } from '../config';
import { acknowledge } from '../nag';
import type { RustFunction } from './rust-function';

export interface NotificationsProps {
  readonly config: TaskstreamConfig;
}

/** What the notifier sends with: an SES sender identity and the webhook signing secrets. */
export class Notifications extends Construct {
  readonly identity: ses.EmailIdentity;
  readonly webhookSecrets: secretsmanager.Secret;

  constructor(scope: Construct, id: string, props: NotificationsProps) {
    super(scope, id);
    const { config } = props;

    // SES mails a verification link to this address; until it is clicked, sends fail and
    // the notifier's messages land in its DLQ (and can be redriven afterwards).
    this.identity = new ses.EmailIdentity(this, 'Sender', {
      identity: ses.Identity.email(config.senderEmail),
    });

    // A JSON object of signing secrets, one per webhook subscription (`{"<id>": "<secret>"}`).
    // It starts with one generated key so the secret is never empty.
    this.webhookSecrets = new secretsmanager.Secret(this, 'WebhookSigning', {
      secretName: `${config.stage}/taskstream/webhook-signing`,
      description: 'HMAC signing secrets of outgoing taskstream webhooks, keyed by subscription id',
      generateSecretString: {
        secretStringTemplate: '{}',
        generateStringKey: 'default',
        excludePunctuation: true,
        passwordLength: 48,
      },
      removalPolicy: config.removalPolicy,
    });
    acknowledge(
      this.webhookSecrets,
      'SMG4',
      'Webhook receivers verify signatures with a copy of these secrets, so a rotation must be coordinated with each receiver; operators rotate them per subscription and no rotation Lambda could do that alone.',
    );
  }

  /** Send mail from the sender identity and read the signing secrets. */
  grantNotify(fn: RustFunction): void {
    this.identity.grantSendEmail(fn.function);
    this.webhookSecrets.grantRead(fn.function);
  }
}
