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
    {
      record: 'account:sunor_credits_burn_per_hour:usage1h',
      expr: 'rate(sunor_credits_used_total[1h]) * 3600',
    },
    {
      record: 'account:sunor_credits_burn_per_hour:usage6h',
      expr: 'rate(sunor_credits_used_total[6h]) * 3600',
    },

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

    // Hours until the available credits reach zero at the 6h burn rate;
    // absent while nothing is being spent.
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
