//! How far behind a deployed stage is: per consumer, its queue's depth and messages in
//! flight and its dead-letter queue's depth (SQS queue attributes), and the age of its oldest
//! message; and the stream router's iterator age (how old the last record it read was when it
//! read it) with what it parked. SQS publishes the oldest message's age only to CloudWatch
//! (`AWS/SQS ApproximateAgeOfOldestMessage`), and Lambda the iterator age (`AWS/Lambda
//! IteratorAge`), so both come from one `GetMetricData` call: the latest minute's maximum
//! within the last ten minutes. No datapoint (nothing waited, or nothing read) is no age.

use std::time::{Duration, SystemTime};

use aws_sdk_cloudwatch::Client as CloudWatch;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, ScanBy};
use aws_sdk_sqs::Client as Sqs;
use aws_sdk_sqs::types::QueueAttributeName;
use serde::Serialize;

use super::{OperateError, StageNames};
use crate::lambda::STREAM_ROUTER;

/// How far back the metrics are read; CloudWatch's latest datapoint is a minute or two old.
const WINDOW: Duration = Duration::from_secs(600);
const PERIOD_SECS: i32 = 60;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AwsConsumerLag {
    pub consumer: String,
    /// `ApproximateNumberOfMessages`: waiting to be received.
    pub depth: i64,
    /// `ApproximateNumberOfMessagesNotVisible`: received and not yet deleted (being applied,
    /// or backing off).
    pub in_flight: i64,
    /// `ApproximateAgeOfOldestMessage`, the latest minute's maximum.
    pub oldest_age_ms: Option<i64>,
    /// The dead-letter queue's `ApproximateNumberOfMessages`.
    pub dead_letters: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AwsRouterLag {
    pub function: String,
    /// `IteratorAge`, the latest minute's maximum.
    pub iterator_age_ms: Option<i64>,
    /// Records in the parking queue, when the stage has one.
    pub parked: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AwsLag {
    pub stage: String,
    pub router: AwsRouterLag,
    /// The deployed consumers, in routing-table order.
    pub consumers: Vec<AwsConsumerLag>,
}

impl AwsLag {
    /// The largest age anywhere: the router's iterator age, or a consumer's oldest message.
    pub fn max_age_ms(&self) -> Option<i64> {
        self.consumers.iter().filter_map(|c| c.oldest_age_ms).chain(self.router.iterator_age_ms).max()
    }
}

pub struct AwsLagReader {
    sqs: Sqs,
    cloudwatch: CloudWatch,
    names: StageNames,
}

impl AwsLagReader {
    pub fn new(sqs: Sqs, cloudwatch: CloudWatch, names: StageNames) -> Self {
        Self { sqs, cloudwatch, names }
    }

    pub fn from_config(config: &aws_config::SdkConfig, names: StageNames) -> Self {
        Self::new(Sqs::new(config), CloudWatch::new(config), names)
    }

    pub async fn read(&self) -> Result<AwsLag, OperateError> {
        let mut consumers = Vec::new();
        for route in events_schema::routing::ROUTES {
            let Some(url) = self.url(&self.names.queue(route.name)).await? else { continue };
            let Some(dlq_url) = self.url(&self.names.dead_letter_queue(route.name)).await? else { continue };
            let counts = self.counts(&url).await?;
            let dead = self.counts(&dlq_url).await?;
            consumers.push(AwsConsumerLag {
                consumer: route.name.to_owned(),
                depth: counts.0,
                in_flight: counts.1,
                oldest_age_ms: None,
                dead_letters: dead.0,
            });
        }
        let function = self.names.function(STREAM_ROUTER);
        let parked = match self.url(&self.names.dead_letter_queue(STREAM_ROUTER)).await? {
            Some(url) => Some(self.counts(&url).await?.0),
            None => None,
        };
        let ages = self.ages(&function, &consumers).await?;
        let mut ages = ages.into_iter();
        let iterator_age_ms = ages.next().flatten();
        for (consumer, age) in consumers.iter_mut().zip(ages) {
            consumer.oldest_age_ms = age;
        }
        Ok(AwsLag {
            stage: self.names.stage.clone(),
            router: AwsRouterLag { function, iterator_age_ms, parked },
            consumers,
        })
    }

    /// The router's iterator age, then each consumer's oldest message age, in milliseconds.
    async fn ages(&self, function: &str, consumers: &[AwsConsumerLag]) -> Result<Vec<Option<i64>>, OperateError> {
        let query = |id: String, namespace: &str, metric: &str, dimension: &str, value: &str| {
            let metric = Metric::builder()
                .namespace(namespace)
                .metric_name(metric)
                .dimensions(Dimension::builder().name(dimension).value(value).build())
                .build();
            let stat = MetricStat::builder().metric(metric).period(PERIOD_SECS).stat("Maximum").build();
            MetricDataQuery::builder().id(id).metric_stat(stat).return_data(true).build()
        };
        let mut queries = vec![query("router".into(), "AWS/Lambda", "IteratorAge", "FunctionName", function)];
        for (i, c) in consumers.iter().enumerate() {
            let queue = self.names.queue(&c.consumer);
            queries.push(query(format!("queue{i}"), "AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", &queue));
        }
        let now = SystemTime::now();
        let out = self
            .cloudwatch
            .get_metric_data()
            .set_metric_data_queries(Some(queries))
            .start_time(DateTime::from(now - WINDOW))
            // A minute past now: CloudWatch's own clock may run ahead of this machine's.
            .end_time(DateTime::from(now + Duration::from_secs(60)))
            .scan_by(ScanBy::TimestampDescending)
            .send()
            .await
            .map_err(|e| OperateError::Aws {
                call: "GetMetricData",
                message: aws_sdk_cloudwatch::error::DisplayErrorContext(e).to_string(),
            })?;
        let latest = |id: &str| {
            out.metric_data_results().iter().find(|r| r.id() == Some(id)).and_then(|r| r.values().first().copied())
        };
        let mut ages = vec![latest("router").map(|ms| ms.round() as i64)];
        for i in 0..consumers.len() {
            ages.push(latest(&format!("queue{i}")).map(|secs| (secs * 1000.0).round() as i64));
        }
        Ok(ages)
    }

    /// `(ApproximateNumberOfMessages, ApproximateNumberOfMessagesNotVisible)`.
    async fn counts(&self, url: &str) -> Result<(i64, i64), OperateError> {
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(|e| OperateError::aws("GetQueueAttributes", e))?;
        let attributes = out.attributes.unwrap_or_default();
        let count = |name: &QueueAttributeName| attributes.get(name).and_then(|v| v.parse().ok()).unwrap_or(0);
        Ok((
            count(&QueueAttributeName::ApproximateNumberOfMessages),
            count(&QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        ))
    }

    async fn url(&self, name: &str) -> Result<Option<String>, OperateError> {
        match self.sqs.get_queue_url().queue_name(name).send().await {
            Ok(out) => Ok(out.queue_url),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_queue_does_not_exist()) => Ok(None),
            Err(e) => Err(OperateError::aws("GetQueueUrl", e)),
        }
    }
}
