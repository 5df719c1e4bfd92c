// The recording rules, in the order they are evaluated. They share one
// group with the alerts (see mixin.libsonnet), ahead of them.
{
  sunorRecordingRules+:: [
    // Each account's low-credit threshold, in credits (1 credit = 0.01
    // USD): the exporter's sunor_credits_low_threshold, set per account
    // (low_credits_threshold in the accounts file, default
    // --sunor.low-credits-threshold). Where that series is absent (an
    // exporter older than it), defaultLowCreditsThreshold (500), the flag's
    // default. The last value of the past hour, like the balance
    // SunorCreditsLow compares it with: an outage keeps both, so an alert
    // firing on an account's own threshold neither resolves nor falls back
    // to the default meanwhile. SunorCreditsLow and the dashboard's
    // threshold line read this.
    //
    // Matching here and below is on all labels, not on(job, instance,
    // account): every series of an account carries its owner labels
    // (team, env), and after a reload that changes them, a window holds
    // the account under both its old and its new labels. Matching on
    // account alone would then find two series on a side, which fails the
    // whole rule for every account until the old ones leave the window.
    {
      record: 'account:sunor_credits_low_threshold:last1h',
      expr: |||
        last_over_time(sunor_credits_low_threshold[1h])
        or
        last_over_time(sunor_credits_available[1h]) * 0 + %(defaultLowCreditsThreshold)s
      ||| % $._config,
    },

    // The available credits SunorCreditsLow compares: the last value of
    // the past hour, under the labels the account has now. While the
    // account is scraped, only its current series (a reload that changed
    // its labels leaves the old ones in the window: an alert under the old
    // team would go on for an hour); while it is not, the last value
    // known, whatever its labels.
    {
      record: 'account:sunor_credits_available:last1h',
      expr: |||
        (last_over_time(sunor_credits_available[1h]) and sunor_credits_available)
        or
        (last_over_time(sunor_credits_available[1h]) unless on(job, instance, account) sunor_credits_available)
      |||,
    },

    // The credits one task of each account costs: the exporter's
    // sunor_credits_task_cost, set per account (task_cost in the accounts
    // file, default 10: a music clip; lyrics and concatenation cost 5, an
    // upload 1). Where that series is absent (an exporter older than it),
    // defaultTaskCost (10). Kept for the hour like the threshold above,
    // and matched on all labels for the same reason.
    {
      record: 'account:sunor_credits_task_cost:last1h',
      expr: |||
        last_over_time(sunor_credits_task_cost[1h])
        or
        last_over_time(sunor_credits_available[1h]) * 0 + %(defaultTaskCost)s
      ||| % $._config,
    },

    // Tasks each account can still start: the API refuses a task with
    // HTTP 402 as soon as the credits available are below its price
    // ("Insufficient credits: available 3, required 10"), not when they
    // reach 0. So 0 here means the API is refusing this account's tasks
    // now, whatever credits are left. From the same last values as
    // SunorCreditsLow, so the two agree.
    {
      record: 'account:sunor_credits_tasks_left:last1h',
      expr: |||
        floor(
          account:sunor_credits_available:last1h
            /
          (account:sunor_credits_task_cost:last1h > 0)
        )
      |||,
    },

    // Burn rate in credits per hour, from the balance. It follows
    // sunor_credits_total (available + frozen), not available: freezing
    // credits for a running task moves them between the two and is not
    // spending, and a refund is not income. A top-up makes the slope
    // positive; clamping at 0 means a top-up reads as "no spending" for up
    // to the window, never as negative spending.
    {
      record: 'account:sunor_credits_burn_per_hour:deriv1h',
      expr: 'clamp_min(-deriv(sunor_credits_total[1h]) * 3600, 0)',
    },
    {
      record: 'account:sunor_credits_burn_per_hour:deriv6h',
      expr: 'clamp_min(-deriv(sunor_credits_total[6h]) * 3600, 0)',
    },

    // Burn rate from the usage counter (--collector.usage, on by default):
    // credits actually deducted, which a top-up or a freeze does not touch
    // at all. Preferred wherever it exists.
    // rate() divides what a window holds by the whole window: for a series
    // younger than the window (a fresh install, a new account, new owner
    // labels) it under-reads, by as much as the window is empty. A fresh
    // install burning 2 credits a minute read as 0.07 a minute after 10
    // minutes, and its low-credit page said the credits lasted 69.5 hours
    // instead of 2.3. So rate() only where the series existed a window
    // ago; until then the slope of the samples there are (deriv, a
    // least-squares fit, which does not divide by the window), clamped at
    // 0 like the balance's.
  ] + [
    {
      record: 'account:sunor_credits_burn_per_hour:usage' + w,
      expr: |||
        rate(sunor_credits_used_total[%(w)s]) * 3600 and sunor_credits_used_total offset %(w)s
        or
        clamp_min(deriv(sunor_credits_used_total[%(w)s]), 0) * 3600
      ||| % { w: w },
    }
    for w in ['1h', '6h']
  ] + [

    // The 6h burn rate the forecast uses: from the usage counter where
    // there is one, else from the balance.
    {
      record: 'account:sunor_credits_burn_per_hour:6h',
      expr: |||
        account:sunor_credits_burn_per_hour:usage6h
        or
        account:sunor_credits_burn_per_hour:deriv6h
      |||,
    },

    // Hours until the available credits are spent at the 6h burn rate;
    // absent while nothing is being spent. The API refuses tasks a little
    // earlier, once fewer credits than a task's price are left (see
    // account:sunor_credits_tasks_left:last1h).
    {
      record: 'account:sunor_credits_hours_left:6h',
      expr: |||
        sunor_credits_available
          /
        (account:sunor_credits_burn_per_hour:6h > 0)
      |||,
    },

    // Share of the key's rate limit left, from the exporter's latest call.
    // - The rate-limit series exist only in scrapes that made a call: the
    //   budget guard answers the others from the last good answer, and
    //   makes no call at all at the reserve or after a 429 (up to 15
    //   minutes). last_over_time keeps the latest call's value through such
    //   gaps, so the alert below neither flaps nor resolves while the
    //   exporter stands aside; a new call's value replaces it at once.
    // - The API's docs promise only X-RateLimit-Remaining: without
    //   X-RateLimit-Limit, the limit is the documented 120 a minute
    //   (defaultRateLimitPerMinute).
    {
      record: 'account:sunor_rate_limit_remaining:ratio',
      expr: |||
        last_over_time(sunor_rate_limit_remaining[15m])
          /
        (
            last_over_time(sunor_rate_limit_limit[15m]) > 0
          or
            last_over_time(sunor_rate_limit_remaining[15m]) * 0 + %(defaultRateLimitPerMinute)s
        )
      ||| % $._config,
    },

    // SPEND AGAINST THE DAILY BUDGET, for SunorSpendOverBudget. The daily
    // budget is the exporter's sunor_credits_daily_budget (credits a day),
    // present only for accounts that set one: no budget, no series below,
    // no alert.
    //
    // Credits the balance fell by in the last minute, for exporters
    // without the usage collector. A rise (a top-up) counts as 0: it is
    // neither negative spending nor does it hide the spending of other
    // minutes. A minute with both loses that minute's spending only.
    // Averaged over a window, this is the spending per minute at any
    // evaluation interval up to a minute.
    {
      record: 'account:sunor_credits_balance_decrease:1m',
      expr: 'clamp_min(sunor_credits_total offset 1m - sunor_credits_total, 0)',
    },
  ] + [
    // Credits spent per hour over three windows: from the usage counter
    // (credits actually deducted; top-ups never touch it) where there is
    // one, else from the balance's decreases.
    {
      record: 'account:sunor_credits_spend_per_hour:' + w,
      expr: |||
        rate(sunor_credits_used_total[%(w)s]) * 3600
        or
        avg_over_time(account:sunor_credits_balance_decrease:1m[%(w)s]) * 60
      ||| % { w: w },
    }
    for w in ['5m', '30m', '4h']
  ] + [
    // The budget burn rate: spending as a multiple of the budget's even
    // pace (daily budget / 24 per hour). 1 spends exactly the budget in a
    // day; 6 spends it in 4 hours.
    {
      record: 'account:sunor_credits_budget_burn:' + w,
      expr: |||
        account:sunor_credits_spend_per_hour:%(w)s * 24
          /
        (sunor_credits_daily_budget > 0)
      ||| % { w: w },
    }
    for w in ['5m', '30m', '4h']
  ],
}
