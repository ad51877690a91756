import type * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';

export interface ApiFirewallProps {
  readonly name: string;
  /** The API Gateway stage to protect. */
  readonly stage: apigw.Stage;
  /** Requests one client address may make in five minutes before it is blocked. */
  readonly ipRequestsPer5Minutes: number;
}

/**
 * A regional web ACL in front of the API stage: AWS managed rule groups and a rate limit per
 * client address, allow by default. The per-tenant throttle is the API keys' (see `api.ts`):
 * WAF cannot read the tenant inside a verified token, and a header naming it would be the
 * client's own word, so a tenant's budget could be spent by anyone writing that header.
 */
export class ApiFirewall extends Construct {
  readonly webAcl: wafv2.CfnWebACL;

  constructor(scope: Construct, id: string, props: ApiFirewallProps) {
    super(scope, id);
    const visibility = (metricName: string): wafv2.CfnWebACL.VisibilityConfigProperty => ({
      cloudWatchMetricsEnabled: true,
      sampledRequestsEnabled: true,
      metricName,
    });
    const managed = (name: string, priority: number, excludeRules: string[] = []): wafv2.CfnWebACL.RuleProperty => ({
      name,
      priority,
      overrideAction: { none: {} },
      statement: {
        managedRuleGroupStatement: {
          vendorName: 'AWS',
          name,
          // Overridden to count: observed, not blocked.
          ruleActionOverrides: excludeRules.map((rule) => ({ name: rule, actionToUse: { count: {} } })),
        },
      },
      visibilityConfig: visibility(name),
    });

    this.webAcl = new wafv2.CfnWebACL(this, 'WebAcl', {
      name: props.name,
      scope: 'REGIONAL',
      defaultAction: { allow: {} },
      visibilityConfig: visibility(props.name),
      rules: [
        // Task descriptions and comments are legitimately longer than the 8 KB body limit
        // of the common rule set; the API enforces its own size limits.
        managed('AWSManagedRulesCommonRuleSet', 0, ['SizeRestrictions_BODY']),
        managed('AWSManagedRulesKnownBadInputsRuleSet', 1),
        {
          // Before any request reaches a usage plan: a flood from one address (a stolen key,
          // a client in a retry loop) is cut off here, whichever tenant it claims.
          name: 'RequestsPerClientAddress',
          priority: 2,
          action: { block: {} },
          statement: {
            rateBasedStatement: {
              limit: props.ipRequestsPer5Minutes,
              evaluationWindowSec: 300,
              aggregateKeyType: 'IP',
            },
          },
          visibilityConfig: visibility('RequestsPerClientAddress'),
        },
      ],
    });

    new wafv2.CfnWebACLAssociation(this, 'Association', {
      resourceArn: props.stage.stageArn,
      webAclArn: this.webAcl.attrArn,
    });
  }
}
