import * as ses from 'aws-cdk-lib/aws-ses';
import { Construct } from 'constructs';
import type { TaskstreamConfig } from '../config';
import type { RustFunction } from './rust-function';

export interface NotificationsProps {
  readonly config: TaskstreamConfig;
}

/** What the notifier sends mail with: an SES sender identity. */
export class Notifications extends Construct {
  readonly identity: ses.EmailIdentity;

  constructor(scope: Construct, id: string, props: NotificationsProps) {
    super(scope, id);
    const { config } = props;

    // SES mails a verification link to this address; until it is clicked, sends fail and
    // the notifier's messages land in its DLQ (and can be redriven afterwards).
    this.identity = new ses.EmailIdentity(this, 'Sender', {
      identity: ses.Identity.email(config.senderEmail),
    });
  }

  /** Send mail from the sender identity. */
  grantNotify(fn: RustFunction): void {
    this.identity.grantSendEmail(fn.function);
  }
}
