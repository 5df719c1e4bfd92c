// The alerts, evaluated after the recording rules in the same group (see
// mixin.libsonnet). Names, labels and annotations are what the runbook,
// the Alertmanager example and users' routes know: keep them.
local utils = import '../lib/utils.libsonnet';
local fold = utils.fold;

// Every description that names an account's owner labels starts with
// this: $owner is all labels of the series but account, job and instance
// (what the accounts file's `labels:` gives), $sel all of the alert's
// labels as a selector, so that an account whose labels just changed
// finds its own series.
local ownerAndSelector = '{{ $owner := "" }}{{ $sel := "" }}{{ range $k, $v := $labels }}{{ if ne $k "__name__" }}{{ $sel = printf "%s%s=%q," $sel $k $v }}{{ end }}{{ if not (eq $k "__name__" "account" "job" "instance") }}{{ $owner = printf "%s, %s=%s" $owner $k $v }}{{ end }}{{ end -}}';

{
  local c = $._config,
  local runbook(alert) = utils.runbookURL(c.runbookURLPattern, alert),

  // SunorSpendOverBudget at one severity: burn over `factor` times the
  // budget's pace in the long window and in the short one.
  local spendOverBudget(severity, factor, long, short, longWords, forDuration) = {
    alert: 'SunorSpendOverBudget',
    expr: |||
      account:sunor_credits_budget_burn:%(long)s > %(factor)g
      and
      account:sunor_credits_budget_burn:%(short)s > %(factor)g
    ||| % { long: long, short: short, factor: factor },
    'for': forDuration,
    labels: { severity: severity },
    annotations: {
      summary: 'Sunor account {{ $labels.account }} is spending its daily budget over %g times too fast' % factor,
      description: fold(ownerAndSelector + '\n' + |||
        Account {{ $labels.account }}{{ with $owner }} ({{ slice . 2 }}){{ end }} spent
        {{ with printf "account:sunor_credits_spend_per_hour:%(long)s{%%s}" $sel | query }}{{ . | first | value | printf "%%.0f" }}{{ end }} credits an hour
        over the last %(longWords)s, {{ $value | printf "%%.1f" }} times the pace of its daily budget
        of {{ with printf "sunor_credits_daily_budget{%%s}" $sel | query }}{{ . | first | value | printf "%%.0f" }}{{ end }} credits.
        At this rate the day's budget lasts {{ with printf "24 / account:sunor_credits_budget_burn:%(long)s{%%s}" $sel | query }}{{ . | first | value | printf "%%.1f" }}{{ end }} hours,
        and the credits available
        {{ with printf "sunor_credits_available{%%s} / account:sunor_credits_spend_per_hour:%(long)s{%%s}" $sel $sel | query }}last {{ . | first | value | printf "%%.1f" }} hours{{ else }}are unknown{{ end }}.
      ||| % { long: long, longWords: longWords }),
      runbook_url: runbook('SunorSpendOverBudget'),
    },
  },

  sunorAlerts+:: [
    {
      alert: 'SunorCreditsLow',
      // The last value seen in the past hour, compared to the account's own
      // threshold (see the two recording rules account:*:last1h):
      // - one failed scrape leaves the last value in place, so it neither
      //   resets the pending timer nor fires anything;
      // - a top-up is a new last value: the alert resolves at once;
      // - an outage (API or exporter) never turns a healthy balance into an
      //   alert, and an alert already firing keeps firing on the last known
      //   value, against the last known threshold, rather than "resolving"
      //   while nobody knows the balance. SunorAPIDown inhibits it
      //   meanwhile. After an hour without a value it ends.
      expr: |||
        account:sunor_credits_available:last1h
          <
        account:sunor_credits_low_threshold:last1h
      |||,
      'for': c.alertFor.SunorCreditsLow,
      labels: { severity: 'critical' },
      annotations: {
        summary: 'Sunor credits low on account {{ $labels.account }}',
        description: fold(ownerAndSelector + '\n' + |||
          Account {{ $labels.account }}{{ with $owner }} ({{ slice . 2 }}){{ end }} has {{ $value | printf "%.0f" }} credits available
          (1 credit = 1 US cent), under its threshold
          of {{ with printf "account:sunor_credits_low_threshold:last1h{%s}" $sel | query }}{{ . | first | value | printf "%.0f" }}{{ end }}{{ with printf "account:sunor_credits_tasks_left:last1h{%s}" $sel | query }}: {{ . | first | value | printf "%.0f" }} tasks left{{ end }}{{ with printf "account:sunor_credits_task_cost:last1h{%s}" $sel | query }} at {{ . | first | value | printf "%.0f" }} credits a task{{ end }}.
          {{ with printf "account:sunor_credits_hours_left:6h{%s}" $sel | query }}At the spending rate of the last 6 hours (or of as long as it was measured, if less), they last {{ . | first | value | printf "%.1f" }} hours.{{ else }}No spending was measured in the last 6 hours, so the time left is unknown.{{ end }}
          The API refuses a task (HTTP 402) as soon as fewer credits are available than it costs. Top up the account.
        |||),
        runbook_url: runbook('SunorCreditsLow'),
      },
    },

    {
      alert: 'SunorCreditsExhausted',
      // The API refuses a task with HTTP 402 as soon as the credits
      // available are below its price, so an account under its task cost
      // can generate nothing now: a page. Compared on the same last values
      // as SunorCreditsLow (see the recording rules):
      // - absent is not exhausted: an account the exporter has no good
      //   answer for has no value, and a healthy balance whose API then
      //   goes away keeps its healthy last value;
      // - one failed scrape neither resets nor resolves it;
      // - a top-up is a new last value: it resolves at once.
      // No for: the first evaluation that sees the drop fires, so with a
      // scrape and an evaluation a minute apart the alert fires within 2
      // minutes of the drop, and the page (group_wait 30s) reaches the team
      // within 3. Every minute of waiting is a minute of refused tasks; a
      // dip of one scrape (credits frozen by a task that then fails and is
      // refunded) is a real one, and comes only after SunorCreditsLow. It
      // inhibits SunorCreditsLow for the account
      // (deploy/alertmanager/alertmanager.yml): one page, not two.
      expr: |||
        account:sunor_credits_available:last1h
          <
        account:sunor_credits_task_cost:last1h
      |||,
      [if c.alertFor.SunorCreditsExhausted != null then 'for']: c.alertFor.SunorCreditsExhausted,
      labels: { severity: 'critical' },
      annotations: {
        summary: 'Sunor account {{ $labels.account }} has too few credits for a task: the API refuses its tasks',
        description: fold(ownerAndSelector + '\n' + |||
          Account {{ $labels.account }}{{ with $owner }} ({{ slice . 2 }}){{ end }} has {{ $value | printf "%.0f" }} credits available,
          fewer than the {{ with printf "account:sunor_credits_task_cost:last1h{%s}" $sel | query }}{{ . | first | value | printf "%.0f" }}{{ end }} credits one of its tasks costs:
          the API answers its new tasks with HTTP 402 (Insufficient credits) now.
          Top up the account.
        |||),
        runbook_url: runbook('SunorCreditsExhausted'),
      },
    },

    {
      alert: 'SunorCreditsExhaustionForecast',
      // The 6h burn rate comes from the usage counter, or else from
      // sunor_credits_total clamped at 0 (see the recording rules): a
      // top-up can only delay this alert, never cause it, and a large task
      // freezing credits is not taken for spending. 6h smooths bursty
      // generation; a shorter window pages on every batch job.
      expr: 'account:sunor_credits_hours_left:6h < %s' % c.forecastHours,
      'for': c.alertFor.SunorCreditsExhaustionForecast,
      labels: { severity: 'warning' },
      annotations: {
        summary: 'Sunor credits on {{ $labels.account }} run out within %sh at the current rate' % c.forecastHours,
        description: fold(|||
          At the burn rate of the last 6 hours (or of as long as it was measured, if less), account {{ $labels.account }}
          has {{ $value | printf "%.1f" }} hours of credits left.
        |||),
        runbook_url: runbook('SunorCreditsExhaustionForecast'),
      },
    },

    {
      alert: 'SunorAPIDown',
      expr: 'sunor_api_up == 0',
      'for': c.alertFor.SunorAPIDown,
      labels: { severity: 'warning' },
      annotations: {
        summary: 'The Sunor API has not answered the exporter for account {{ $labels.account }}',
        description: fold(|||
          Balance calls for account {{ $labels.account }} have failed for %(for)s,
          so the credit balance is unknown.
          Most frequent reason lately: {{ with printf "topk(1, increase(sunor_api_errors_total{account=%%q,endpoint=\"balance\"}[%(window)s]) > 0)" $labels.account | query }}{{ . | first | label "reason" }}{{ else }}unknown (rate-limit back-off, or no failed call counted){{ end }}.
        ||| % { 'for': utils.duration(c.alertFor.SunorAPIDown), window: c.apiErrorReasonWindow }),
        runbook_url: runbook('SunorAPIDown'),
      },
    },

    {
      alert: 'SunorAPIKeyRejected',
      // A rejected key does not heal by itself: say so sooner and more
      // precisely than SunorAPIDown.
      expr: 'increase(sunor_api_errors_total{reason="unauthorized"}[%s]) > 0' % c.keyRejectedWindow,
      'for': c.alertFor.SunorAPIKeyRejected,
      labels: { severity: 'critical' },
      annotations: {
        summary: 'The Sunor API rejects the key of account {{ $labels.account }}',
        description: fold(|||
          The API answered 401 or 403 to the exporter for account {{ $labels.account }}:
          the key is missing, wrong or revoked. Generation with the same key fails too.
        |||),
        runbook_url: runbook('SunorAPIKeyRejected'),
      },
    },

    {
      alert: 'SunorExporterDown',
      // One alert per target. Scraping /metrics, the target is the
      // exporter. Scraping /probe (one target per account, see
      // docs/deployment.md), a failed target names its account, and
      // Alertmanager groups this alert per exporter: an exporter that is
      // down is one notification, however many accounts it serves.
      //
      // `up` is every target's, hence sunorSelector; absent() fires when
      // Prometheus has no such target at all (a renamed job, a broken
      // service discovery), which up == 0 cannot see.
      expr: 'up{%(sunorSelector)s} == 0 or absent(up{%(sunorSelector)s})' % c,
      'for': c.alertFor.SunorExporterDown,
      labels: { severity: 'warning' },
      annotations: {
        summary: '{{ if $labels.account }}Prometheus cannot scrape account {{ $labels.account }} from sunor_exporter{{ else }}sunor_exporter is down or not scraped{{ end }}',
        description: fold(|||
          {{ if $labels.account }}Prometheus cannot scrape account {{ $labels.account }}
          from sunor_exporter ({{ $labels.instance }}, /probe?account={{ $labels.account }}):
          no credit alert can fire for this account.{{ else }}Prometheus cannot scrape
          sunor_exporter ({{ $labels.instance }}), or has no target for %s:
          no credit alert can fire.{{ end }}
        ||| % utils.target(c.sunorSelector)),
        runbook_url: runbook('SunorExporterDown'),
      },
    },

    {
      alert: 'SunorCreditsFrozenHigh',
      // Credits are frozen while a task runs. Most of the balance frozen
      // for an hour means very long or stuck tasks, and little left to
      // start new ones.
      expr: |||
        sunor_credits_frozen / (sunor_credits_total > 0) > %g
      ||| % c.frozenRatio,
      'for': c.alertFor.SunorCreditsFrozenHigh,
      labels: { severity: 'warning' },
      annotations: {
        summary: 'Most Sunor credits of {{ $labels.account }} have been frozen for %s' % utils.duration(c.alertFor.SunorCreditsFrozenHigh),
        description: fold(|||
          {{ $value | humanizePercentage }} of the credits of account {{ $labels.account }}
          are frozen by running tasks.
        |||),
        runbook_url: runbook('SunorCreditsFrozenHigh'),
      },
    },

    {
      alert: 'SunorRateLimitNearlyExhausted',
      // The budget (120 requests a minute per key) is shared by the
      // exporter and all generation traffic of the key: when it runs out,
      // generation calls get 429 too.
      expr: 'account:sunor_rate_limit_remaining:ratio < %g' % c.rateLimitRemainingRatio,
      'for': c.alertFor.SunorRateLimitNearlyExhausted,
      labels: { severity: 'warning' },
      annotations: {
        summary: 'The Sunor API key of {{ $labels.account }} is near its rate limit',
        // The exporter's own share tells whose traffic it is: it makes at
        // most --sunor.max-calls-per-minute (12) calls, and none at all
        // while the remainder is at --sunor.rate-limit-reserve.
        description: fold(|||
          Only {{ $value | humanizePercentage }} of the key's requests per window were left
          in the exporter's calls for %s. The exporter itself made
          {{ with printf "sum(rate(sunor_api_requests_total{account=%%q}[5m])) * 60" $labels.account | query }}{{ . | first | value | printf "%%.1f" }}{{ else }}an unknown number of{{ end }}
          calls a minute; the rest is other traffic with this key, such as your product's.
          Generation calls with this key will soon get HTTP 429.
        ||| % utils.duration(c.alertFor.SunorRateLimitNearlyExhausted)),
        runbook_url: runbook('SunorRateLimitNearlyExhausted'),
      },
    },

    // SunorSpendOverBudget: the SRE workbook's multi-window, multi-burn-
    // rate alert, with the daily budget as the error budget and a day as
    // its period. Each severity needs a long window over the burn rate
    // (enough has been spent to matter) and a short one (it is still going
    // on: the alert resolves minutes after the spending stops, not when
    // the long window forgets it). The workbook makes the short window a
    // twelfth of the long one; here it is no shorter than 5 minutes (five
    // scrapes), and the warning reuses the 30m series. Waiting for the
    // day's budget to be gone would say so too late; a page for every
    // batch job would be ignored: hence two severities, each sized by how
    // soon the budget runs out at that rate.
    // - critical, 30m and 5m over 6 times the pace: an eighth of the day's
    //   budget gone in half an hour, and at that rate all of it in 4
    //   hours. A runaway job or a leaked key; someone should stop it now.
    //   Spending at 10 times the pace fires within about 20 minutes, a
    //   burst at 3 times never.
    // - warning, 4h and 30m over 3 times the pace: half the day's budget
    //   gone in 4 hours, and all of it in 8 at that rate. Sustained
    //   spending at 4 times the pace fires within about 3 hours; a
    //   30-minute burst at 3 times moves the 4h burn rate by a quarter of
    //   the pace, far from 3.
    // Steady spending at the pace never reaches either. Top-ups are not
    // spending (see the recording rules). The for: rides over a single
    // lumpy scrape; the short window already stops flapping.
    spendOverBudget('critical', c.budgetBurnCritical, '30m', '5m', '30 minutes', c.alertFor.SunorSpendOverBudgetCritical),
    spendOverBudget('warning', c.budgetBurnWarning, '4h', '30m', '4 hours', c.alertFor.SunorSpendOverBudgetWarning),

    {
      alert: 'SunorConfigReloadFailed',
      // The exporter rejected its accounts file on a reload and still
      // serves the accounts it had: every change since (accounts, keys,
      // labels, thresholds, budgets) is not in force. One alert per
      // exporter: through /probe every account's target carries the
      // exporter's own series. The for: leaves time to fix a typo and
      // reload again.
      expr: 'min by (job, instance) (sunor_config_last_reload_successful) == 0',
      'for': c.alertFor.SunorConfigReloadFailed,
      labels: { severity: 'warning' },
      annotations: {
        summary: 'sunor_exporter {{ $labels.instance }} rejected its accounts file',
        description: fold(|||
          The last reload of the accounts file of sunor_exporter {{ $labels.instance }} was rejected
          {{ with printf "time() - max(sunor_config_last_reload_success_timestamp_seconds{job=%q,instance=%q})" $labels.job $labels.instance | query }}(the last good load was {{ . | first | value | humanizeDuration }} ago){{ end }},
          and it still serves the accounts it had: changes to accounts, labels, thresholds
          and budgets since then are not in force. Its log says why (msg="Config reload rejected").
        |||),
        runbook_url: runbook('SunorConfigReloadFailed'),
      },
    },
  ],
}
