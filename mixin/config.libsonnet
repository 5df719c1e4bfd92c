// The mixin's settings. Override any of them when importing:
//
//   (import 'sunor-mixin/mixin.libsonnet') + {
//     _config+:: { sunorSelector: 'job="credits"' },
//   }
//
// docs/mixin.md describes each one.
{
  _config+:: {
    // Selects the exporter's targets among Prometheus's `up` series, for
    // SunorExporterDown: use your scrape job's name. The sunor_* series are
    // the exporter's alone and are matched by name under any job, so no
    // other rule and no dashboard query needs it.
    sunorSelector: 'job="sunor"',

    // The low-credit threshold, in credits (1 credit = 0.01 USD), for
    // accounts whose exporter does not export sunor_credits_low_threshold
    // (an exporter older than it): the flag --sunor.low-credits-threshold's
    // default. Accounts with the series use their own.
    defaultLowCreditsThreshold: 500,

    // The price of one task, in credits (a music clip), for accounts whose
    // exporter does not export sunor_credits_task_cost.
    defaultTaskCost: 10,

    // The key's rate limit a minute when the API sends no
    // X-RateLimit-Limit: the 120 its docs promise.
    defaultRateLimitPerMinute: 120,

    // Alert thresholds.
    forecastHours: 24,  // SunorCreditsExhaustionForecast: credits left for fewer hours than this
    frozenRatio: 0.5,  // SunorCreditsFrozenHigh: share of the credits frozen
    rateLimitRemainingRatio: 0.1,  // SunorRateLimitNearlyExhausted: share of the key's requests left
    budgetBurnCritical: 6,  // SunorSpendOverBudget critical: times the daily budget's pace
    budgetBurnWarning: 3,  // SunorSpendOverBudget warning

    // Alert windows not carried by a recording rule's name (those, such
    // as account:sunor_credits_hours_left:6h, keep their windows: the
    // dashboard and other rules read them by name).
    keyRejectedWindow: '5m',  // SunorAPIKeyRejected: an unauthorized answer in this window
    apiErrorReasonWindow: '15m',  // SunorAPIDown's description: the most frequent reason in this window

    // How long each alert's condition must hold before it fires; null
    // for none (it fires at the first evaluation that sees it).
    alertFor: {
      SunorCreditsLow: '10m',
      SunorCreditsExhausted: null,
      SunorCreditsExhaustionForecast: '30m',
      SunorAPIDown: '10m',
      SunorAPIKeyRejected: '2m',
      SunorExporterDown: '5m',
      SunorCreditsFrozenHigh: '1h',
      SunorRateLimitNearlyExhausted: '5m',
      SunorSpendOverBudgetCritical: '2m',
      SunorSpendOverBudgetWarning: '15m',
      SunorConfigReloadFailed: '5m',
    },

    // Where each alert's runbook_url points: %s is the alert's name in
    // lower case (the anchor of its section).
    runbookURLPattern: 'https://github.com/sunor-community/sunor_exporter#%s',

    // The Grafana dashboard.
    dashboardUID: 'sunor-credits',
    dashboardTitle: 'Sunor credits',
    dashboardTags: ['sunor', 'sunor_exporter'],
  },
}
