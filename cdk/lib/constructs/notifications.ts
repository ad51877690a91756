import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as ses from 'aws-cdk-lib/aws-ses';
import { Construct } from 'constructs';
import type { TaskstreamConfig } from '../config';
import type { RustFunction } from './rust-function';

export interface NotificationsProps {
  readonly config: TaskstreamConfig;
}

/** What the notifier sends mail with (an SES sender identity) and the clock of its webhook retries. */
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

  /**
   * The clock webhook retries take their turn on: a scheduled rule invokes the notifier every
   * minute, and it sends the deliveries that have come due (`shared/aws/src/notifier_lambda.rs`).
   * A missed tick is no loss: the next one sends what it left.
   */
  tickEveryMinute(fn: RustFunction): events.Rule {
    return new events.Rule(this, 'WebhookRetryClock', {
      description: 'Invokes the notifier every minute to send the webhook deliveries that have come due',
      schedule: events.Schedule.rate(Duration.minutes(1)),
      targets: [new targets.LambdaFunction(fn.function, { retryAttempts: 0 })],
    });
  }
}
