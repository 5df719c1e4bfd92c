// The Grafana dashboard, as plain jsonnet (no grafonnet): the JSON of
// deploy/grafana/dashboards/sunor.json, which `make mixin` renders from
// this. Every query selects its series with s, the dashboard's variables:
// deploy/deploy_test.go checks each selector is exactly that.
//
// The sunor_* series are the exporter's alone, so the queries need no job
// matcher and work under any scrape job name.
function(config)
  local s = '{account=~"$account",instance=~"$instance",team=~"$team"}';
  {
    uid: config.dashboardUID,
    title: config.dashboardTitle,
    description: 'Credit balance, burn rate and API health from sunor_exporter.',
    tags: config.dashboardTags,
    timezone: '',
    editable: true,
    schemaVersion: 39,
    version: 1,
    refresh: '1m',
    time: {
      from: 'now-24h',
      to: 'now',
    },
    graphTooltip: 1,
    annotations: {
      list: [],
    },
    links: [],
    templating: {
      list: [
        {
          name: 'datasource',
          label: 'Data source',
          type: 'datasource',
          query: 'prometheus',
          current: {
            selected: false,
            text: 'default',
            value: 'default',
          },
          hide: 0,
          refresh: 1,
          regex: '',
          options: [],
        },
        {
          name: 'team',
          label: 'Team',
          type: 'query',
          datasource: {
            type: 'prometheus',
            uid: '${datasource}',
          },
          query: {
            query: 'label_values(sunor_api_up, team)',
            refId: 'team',
          },
          definition: 'label_values(sunor_api_up, team)',
          refresh: 2,
          multi: true,
          includeAll: true,
          allValue: '.*',
          current: {
            selected: true,
            text: ['All'],
            value: ['$__all'],
          },
          sort: 1,
          hide: 0,
          options: [],
          regex: '',
          description: "The team label of the accounts (labels: in the exporter's accounts file). All includes accounts without one.",
        },
        {
          name: 'account',
          label: 'Account',
          type: 'query',
          datasource: {
            type: 'prometheus',
            uid: '${datasource}',
          },
          query: {
            query: 'label_values(sunor_api_up{team=~"$team"}, account)',
            refId: 'account',
          },
          definition: 'label_values(sunor_api_up{team=~"$team"}, account)',
          refresh: 2,
          multi: true,
          includeAll: true,
          allValue: '.+',
          current: {
            selected: true,
            text: ['All'],
            value: ['$__all'],
          },
          sort: 1,
          hide: 0,
          options: [],
          regex: '',
        },
        {
          name: 'instance',
          label: 'Exporter',
          type: 'query',
          datasource: {
            type: 'prometheus',
            uid: '${datasource}',
          },
          query: {
            query: 'label_values(sunor_api_up{account=~"$account",team=~"$team"}, instance)',
            refId: 'instance',
          },
          definition: 'label_values(sunor_api_up{account=~"$account",team=~"$team"}, instance)',
          refresh: 2,
          multi: true,
          includeAll: true,
          allValue: '.+',
          current: {
            selected: true,
            text: ['All'],
            value: ['$__all'],
          },
          sort: 1,
          hide: 0,
          options: [],
          regex: '',
        },
      ],
    },
    panels: [
      {
        id: 19,
        type: 'table',
        title: 'Accounts',
        description: "One row per account: its owner (the team label), the credits available and its own low-credit threshold, the tasks it can still start (the credits available over its task cost; 0 means the API refuses its tasks with HTTP 402 now), the hours they last at the 6-hour spending rate, and the share of today's daily budget spent so far (since midnight, in the dashboard's time zone; empty without a budget).",
        datasource: {
          type: 'prometheus',
          uid: '${datasource}',
        },
        gridPos: {
          x: 0,
          y: 0,
          w: 24,
          h: 8,
        },
        timeFrom: 'now/d',
        targets: [
          {
            expr: 'sunor_credits_available' + s,
            legendFormat: '',
            instant: true,
            range: false,
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            refId: 'A',
            format: 'table',
          },
          {
            expr: 'account:sunor_credits_low_threshold:last1h' + s,
            legendFormat: '',
            instant: true,
            range: false,
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            refId: 'B',
            format: 'table',
          },
          {
            expr: 'account:sunor_credits_hours_left:6h' + s,
            legendFormat: '',
            instant: true,
            range: false,
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            refId: 'C',
            format: 'table',
          },
          {
            expr: '(increase(sunor_credits_used_total' + s + '[$__range]) or avg_over_time(account:sunor_credits_balance_decrease:1m' + s + '[$__range]) * $__range_s / 60) / sunor_credits_daily_budget' + s,
            legendFormat: '',
            instant: true,
            range: false,
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            refId: 'D',
            format: 'table',
          },
          {
            expr: 'account:sunor_credits_tasks_left:last1h' + s,
            legendFormat: '',
            instant: true,
            range: false,
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            refId: 'E',
            format: 'table',
          },
        ],
        transformations: [
          {
            id: 'merge',
            options: {},
          },
          {
            id: 'organize',
            options: {
              excludeByName: {
                Time: true,
                job: true,
                __name__: true,
              },
              indexByName: {
                account: 0,
                team: 1,
                instance: 2,
                'Value #A': 3,
                'Value #B': 4,
                'Value #E': 5,
                'Value #C': 6,
                'Value #D': 7,
              },
              renameByName: {
                account: 'Account',
                team: 'Owner (team)',
                instance: 'Exporter',
                'Value #A': 'Available credits',
                'Value #B': 'Low-credit threshold',
                'Value #E': 'Tasks left',
                'Value #C': 'Hours left',
                'Value #D': "Today's budget spent",
              },
            },
          },
        ],
        fieldConfig: {
          defaults: {
            unit: 'none',
            decimals: 0,
          },
          overrides: [
            {
              matcher: {
                id: 'byName',
                options: 'Tasks left',
              },
              properties: [
                {
                  id: 'thresholds',
                  value: {
                    mode: 'absolute',
                    steps: [
                      {
                        color: 'red',
                        value: null,
                      },
                      {
                        color: 'orange',
                        value: 1,
                      },
                      {
                        color: 'green',
                        value: 50,
                      },
                    ],
                  },
                },
                {
                  id: 'custom.cellOptions',
                  value: {
                    type: 'color-background',
                  },
                },
              ],
            },
            {
              matcher: {
                id: 'byName',
                options: 'Hours left',
              },
              properties: [
                {
                  id: 'unit',
                  value: 'h',
                },
                {
                  id: 'decimals',
                  value: 1,
                },
              ],
            },
            {
              matcher: {
                id: 'byName',
                options: "Today's budget spent",
              },
              properties: [
                {
                  id: 'unit',
                  value: 'percentunit',
                },
                {
                  id: 'decimals',
                  value: 0,
                },
                {
                  id: 'thresholds',
                  value: {
                    mode: 'absolute',
                    steps: [
                      {
                        color: 'green',
                        value: null,
                      },
                      {
                        color: 'orange',
                        value: 0.75,
                      },
                      {
                        color: 'red',
                        value: 1,
                      },
                    ],
                  },
                },
                {
                  id: 'custom.cellOptions',
                  value: {
                    type: 'color-background',
                  },
                },
              ],
            },
          ],
        },
        options: {
          showHeader: true,
          frameIndex: 0,
          cellHeight: 'sm',
          sortBy: [
            {
              displayName: 'Hours left',
              desc: false,
            },
          ],
          footer: {
            show: false,
            reducer: ['sum'],
            countRows: false,
            fields: '',
          },
        },
      },
      {
        id: 1,
        type: 'stat',
        title: 'Available credits',
        description: "Credits you can spend now. The colours change at 500 and 1000 credits for every account; each account's own SunorCreditsLow threshold is drawn in \"Available credits and threshold\" and compared in the Accounts table.",
        datasource: {
          type: 'prometheus',
          uid: '${datasource}',
        },
        gridPos: {
          x: 0,
          y: 8,
          w: 4,
          h: 5,
        },
        targets: [
          {
            expr: 'sunor_credits_available' + s,
            legendFormat: '{{account}}',
            instant: false,
            range: true,
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            refId: 'A',
          },
        ],
        fieldConfig: {
          defaults: {
            unit: 'none',
            decimals: 0,
            thresholds: {
              mode: 'absolute',
              steps: [
                {
                  color: 'red',
                  value: null,
                },
                {
                  color: 'orange',
                  value: 500,
                },
                {
                  color: 'green',
                  value: 1000,
                },
              ],
            },
          },
          overrides: [],
        },
        options: {
          reduceOptions: {
            calcs: ['lastNotNull'],
            fields: '',
            values: false,
          },
          colorMode: 'background',
          graphMode: 'area',
          textMode: 'auto',
          justifyMode: 'auto',
          orientation: 'auto',
          wideLayout: true,
          showPercentChange: false,
          percentChangeColorMode: 'standard',
        },
      },
      {
        id: 2,
        type: 'stat',
        title: 'Frozen credits',
        description: 'Held by running tasks; deducted or refunded when they end.',
        datasource: {
          type: 'prometheus',
          uid: '${datasource}',
        },
        gridPos: {
          x: 4,
          y: 8,
          w: 4,
          h: 5,
        },
        targets: [
          {
            expr: 'sunor_credits_frozen' + s,
            legendFormat: '{{account}}',
            instant: false,
            range: true,
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            refId: 'A',
          },
        ],
        fieldConfig: {
          defaults: {
            unit: 'none',
            decimals: 0,
          },
          overrides: [],
        },
        options: {
          reduceOptions: {
            calcs: ['lastNotNull'],
            fields: '',
            values: false,
          },
          colorMode: 'value',
          graphMode: 'area',
          textMode: 'auto',
          justifyMode: 'auto',
          orientation: 'auto',
          wideLayout: true,
          showPercentChange: false,
          percentChangeColorMode: 'standard',
        },
      },
      {
        id: 3,
        type: 'stat',
        title: 'Total credits',
        description: 'Available plus frozen.',
        datasource: {
          type: 'prometheus',
          uid: '${datasource}',
        },
        gridPos: {
          x: 8,
          y: 8,
          w: 4,
          h: 5,
        },
        targets: [
          {
            expr: 'sunor_credits_total' + s,
            legendFormat: '{{account}}',
            instant: false,
            range: true,
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            refId: 'A',
          },
        ],
        fieldConfig: {
          defaults: {
            unit: 'none',
            decimals: 0,
          },
          overrides: [],
        },
        options: {
          reduceOptions: {
            calcs: ['lastNotNull'],
            fields: '',
            values: false,
          },
          colorMode: 'value',
          graphMode: 'area',
          textMode: 'auto',
          justifyMode: 'auto',
          orientation: 'auto',
          wideLayout: true,
          showPercentChange: false,
          percentChangeColorMode: 'standard',
        },
      },
      {
        id: 4,
        type: 'stat',
        title: 'Available (USD)',
        description: 'At 0.01 USD per credit.',
        datasource: {
          type: 'prometheus',
          uid: '${datasource}',
        },
        gridPos: {
          x: 12,
          y: 8,
          w: 4,
          h: 5,
        },
        targets: [
          {
            expr: 'sunor_credits_available' + s + ' * 0.01',
            legendFormat: '{{account}}',
            instant: false,
            range: true,
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            refId: 'A',
          },
        ],
        fieldConfig: {
          defaults: {
            unit: 'currencyUSD',
            decimals: 2,
            thresholds: {
              mode: 'absolute',
              steps: [
                {
                  color: 'red',
                  value: null,
                },
                {
                  color: 'orange',
                  value: 5,
                },
                {
                  color: 'green',
                  value: 10,
                },
              ],
            },
          },
          overrides: [],
        },
        options: {
          reduceOptions: {
            calcs: ['lastNotNull'],
            fields: '',
            values: false,
          },
          colorMode: 'background',
          graphMode: 'area',
          textMode: 'auto',
          justifyMode: 'auto',
          orientation: 'auto',
          wideLayout: true,
          showPercentChange: false,
          percentChangeColorMode: 'standard',
        },
      },
      {
        id: 5,
        type: 'stat',
        title: 'Frozen (USD)',
        description: 'At 0.01 USD per credit.',
        datasource: {
          type: 'prometheus',
          uid: '${datasource}',
        },
        gridPos: {
          x: 16,
          y: 8,
          w: 4,
          h: 5,
        },
        targets: [
          {
            expr: 'sunor_credits_frozen' + s + ' * 0.01',
            legendFormat: '{{account}}',
            instant: false,
            range: true,
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            refId: 'A',
          },
        ],
        fieldConfig: {
          defaults: {
            unit: 'currencyUSD',
            decimals: 2,
          },
          overrides: [],
        },
        options: {
          reduceOptions: {
            calcs: ['lastNotNull'],
            fields: '',
            values: false,
          },
          colorMode: 'value',
          graphMode: 'area',
          textMode: 'auto',
          justifyMode: 'auto',
          orientation: 'auto',
          wideLayout: true,
          showPercentChange: false,
          percentChangeColorMode: 'standard',
        },
      },
      {
        id: 6,
        type: 'stat',
        title: 'Total (USD)',
        description: 'At 0.01 USD per credit.',
        datasource: {
          type: 'prometheus',
          uid: '${datasource}',
        },
        gridPos: {
          x: 20,
          y: 8,
          w: 4,
          h: 5,
        },
        targets: [
          {
            expr: 'sunor_credits_total' + s + ' * 0.01',
            legendFormat: '{{account}}',
            instant: false,
            range: true,
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            refId: 'A',
          },
        ],
        fieldConfig: {
          defaults: {
            unit: 'currencyUSD',
            decimals: 2,
          },
          overrides: [],
        },
        options: {
          reduceOptions: {
            calcs: ['lastNotNull'],
            fields: '',
            values: false,
          },
          colorMode: 'value',
          graphMode: 'area',
          textMode: 'auto',
          justifyMode: 'auto',
          orientation: 'auto',
          wideLayout: true,
          showPercentChange: false,
          percentChangeColorMode: 'standard',
        },
      },
      {
        id: 7,
        type: 'stat',
        title: 'Time to exhaustion',
        description: "Hours until the available credits are spent at the 6-hour burn rate (from the usage counter where there is one, else from the balance; over as long as it was measured, if less than 6 hours): the recording rule SunorCreditsExhaustionForecast uses. The API refuses tasks a little earlier, once fewer credits than a task's price are left: see Tasks left. Empty while nothing is being spent.",
        datasource: {
          type: 'prometheus',
          uid: '${datasource}',
        },
        gridPos: {
          x: 0,
          y: 13,
          w: 5,
          h: 5,
        },
        targets: [
          {
            expr: 'account:sunor_credits_hours_left:6h' + s,
            legendFormat: '{{account}}',
            instant: false,
            range: true,
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            refId: 'A',
          },
        ],
        fieldConfig: {
          defaults: {
            unit: 'h',
            decimals: 1,
            thresholds: {
              mode: 'absolute',
              steps: [
                {
                  color: 'red',
                  value: null,
                },
                {
                  color: 'orange',
                  value: 24,
                },
                {
                  color: 'green',
                  value: 72,
                },
              ],
            },
          },
          overrides: [],
        },
        options: {
          reduceOptions: {
            calcs: ['lastNotNull'],
            fields: '',
            values: false,
          },
          colorMode: 'background',
          graphMode: 'area',
          textMode: 'auto',
          justifyMode: 'auto',
          orientation: 'auto',
          wideLayout: true,
          showPercentChange: false,
          percentChangeColorMode: 'standard',
        },
      },
      {
        id: 21,
        type: 'stat',
        title: 'Tasks left',
        description: 'Tasks each account can still start: the credits available over the credits one task costs (sunor_credits_task_cost, %s for a music clip where the exporter does not export it), rounded down. The API refuses a task with HTTP 402 as soon as fewer credits are available than it costs, so 0 (red) means the account can generate nothing now: SunorCreditsExhausted pages. Orange under 50 tasks (the default low-credit threshold of 500 credits at 10 a task).' % config.defaultTaskCost,
        datasource: {
          type: 'prometheus',
          uid: '${datasource}',
        },
        gridPos: {
          x: 5,
          y: 13,
          w: 5,
          h: 5,
        },
        targets: [
          {
            expr: 'account:sunor_credits_tasks_left:last1h' + s,
            legendFormat: '{{account}}',
            instant: false,
            range: true,
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            refId: 'A',
          },
        ],
        fieldConfig: {
          defaults: {
            unit: 'none',
            decimals: 0,
            thresholds: {
              mode: 'absolute',
              steps: [
                {
                  color: 'red',
                  value: null,
                },
                {
                  color: 'orange',
                  value: 1,
                },
                {
                  color: 'green',
                  value: 50,
                },
              ],
            },
          },
          overrides: [],
        },
        options: {
          reduceOptions: {
            calcs: ['lastNotNull'],
            fields: '',
            values: false,
          },
          colorMode: 'background',
          graphMode: 'area',
          textMode: 'auto',
          justifyMode: 'auto',
          orientation: 'auto',
          wideLayout: true,
          showPercentChange: false,
          percentChangeColorMode: 'standard',
        },
      },
      {
        id: 8,
        type: 'stat',
        title: 'Burn rate (credits/h)',
        description: 'Credits spent per hour over the last hour: from the usage counter (credits actually deducted) where there is one, else from the balance.',
        datasource: {
          type: 'prometheus',
          uid: '${datasource}',
        },
        gridPos: {
          x: 10,
          y: 13,
          w: 5,
          h: 5,
        },
        targets: [
          {
            expr: 'account:sunor_credits_burn_per_hour:usage1h' + s + ' or account:sunor_credits_burn_per_hour:deriv1h' + s,
            legendFormat: '{{account}}',
            instant: false,
            range: true,
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            refId: 'A',
          },
        ],
        fieldConfig: {
          defaults: {
            unit: 'none',
            decimals: 1,
          },
          overrides: [],
        },
        options: {
          reduceOptions: {
            calcs: ['lastNotNull'],
            fields: '',
            values: false,
          },
          colorMode: 'value',
          graphMode: 'area',
          textMode: 'auto',
          justifyMode: 'auto',
          orientation: 'auto',
          wideLayout: true,
          showPercentChange: false,
          percentChangeColorMode: 'standard',
        },
      },
      {
        id: 9,
        type: 'stat',
        title: 'API up',
        description: '1 when the last balance call succeeded. While 0, the credit panels show the last known values.',
        datasource: {
          type: 'prometheus',
          uid: '${datasource}',
        },
        gridPos: {
          x: 15,
          y: 13,
          w: 4,
          h: 5,
        },
        targets: [
          {
            expr: 'sunor_api_up' + s,
            legendFormat: '{{account}}',
            instant: false,
            range: true,
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            refId: 'A',
          },
        ],
        fieldConfig: {
          defaults: {
            decimals: 0,
            thresholds: {
              mode: 'absolute',
              steps: [
                {
                  color: 'red',
                  value: null,
                },
                {
                  color: 'green',
                  value: 1,
                },
              ],
            },
            mappings: [
              {
                type: 'value',
                options: {
                  '0': {
                    text: 'DOWN',
                    index: 0,
                  },
                  '1': {
                    text: 'UP',
                    index: 1,
                  },
                },
              },
            ],
          },
          overrides: [],
        },
        options: {
          reduceOptions: {
            calcs: ['lastNotNull'],
            fields: '',
            values: false,
          },
          colorMode: 'background',
          graphMode: 'area',
          textMode: 'auto',
          justifyMode: 'auto',
          orientation: 'auto',
          wideLayout: true,
          showPercentChange: false,
          percentChangeColorMode: 'standard',
        },
      },
      {
        id: 10,
        type: 'stat',
        title: 'Age of the balance',
        description: 'Seconds since the last successful balance call.',
        datasource: {
          type: 'prometheus',
          uid: '${datasource}',
        },
        gridPos: {
          x: 19,
          y: 13,
          w: 5,
          h: 5,
        },
        targets: [
          {
            expr: 'time() - sunor_last_success_timestamp_seconds' + s,
            legendFormat: '{{account}}',
            instant: false,
            range: true,
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            refId: 'A',
          },
        ],
        fieldConfig: {
          defaults: {
            unit: 's',
            decimals: 0,
            thresholds: {
              mode: 'absolute',
              steps: [
                {
                  color: 'green',
                  value: null,
                },
                {
                  color: 'orange',
                  value: 300,
                },
                {
                  color: 'red',
                  value: 900,
                },
              ],
            },
          },
          overrides: [],
        },
        options: {
          reduceOptions: {
            calcs: ['lastNotNull'],
            fields: '',
            values: false,
          },
          colorMode: 'background',
          graphMode: 'area',
          textMode: 'auto',
          justifyMode: 'auto',
          orientation: 'auto',
          wideLayout: true,
          showPercentChange: false,
          percentChangeColorMode: 'standard',
        },
      },
      {
        id: 11,
        type: 'timeseries',
        title: 'Available credits and threshold',
        description: "Each account's threshold line is the recording rule SunorCreditsLow compares with: the exporter's sunor_credits_low_threshold (low_credits_threshold in the accounts file), or %s for an exporter without it." % config.defaultLowCreditsThreshold,
        datasource: {
          type: 'prometheus',
          uid: '${datasource}',
        },
        gridPos: {
          x: 0,
          y: 18,
          w: 12,
          h: 8,
        },
        targets: [
          {
            expr: 'sunor_credits_available' + s,
            legendFormat: 'available {{account}}',
            instant: false,
            range: true,
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            refId: 'A',
          },
          {
            expr: 'sunor_credits_frozen' + s,
            legendFormat: 'frozen {{account}}',
            instant: false,
            range: true,
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            refId: 'B',
          },
          {
            expr: 'account:sunor_credits_low_threshold:last1h' + s,
            legendFormat: 'threshold {{account}}',
            instant: false,
            range: true,
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            refId: 'C',
          },
        ],
        fieldConfig: {
          defaults: {
            unit: 'none',
            decimals: 0,
            custom: {
              drawStyle: 'line',
              lineWidth: 2,
              fillOpacity: 10,
              spanNulls: false,
              showPoints: 'never',
            },
          },
          overrides: [],
        },
        options: {
          legend: {
            displayMode: 'table',
            showLegend: true,
            placement: 'bottom',
            calcs: ['lastNotNull', 'min', 'max'],
          },
          tooltip: {
            mode: 'multi',
            sort: 'desc',
          },
        },
      },
      {
        id: 12,
        type: 'timeseries',
        title: 'Burn rate (credits per hour)',
        description: 'From the usage counter (rate of sunor_credits_used_total: credits deducted, untouched by top-ups) and from the slope of sunor_credits_total (clamped at 0, so a top-up reads as no spending).',
        datasource: {
          type: 'prometheus',
          uid: '${datasource}',
        },
        gridPos: {
          x: 12,
          y: 18,
          w: 12,
          h: 8,
        },
        targets: [
          {
            expr: 'account:sunor_credits_burn_per_hour:usage1h' + s,
            legendFormat: 'used, 1h {{account}}',
            instant: false,
            range: true,
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            refId: 'A',
          },
          {
            expr: 'account:sunor_credits_burn_per_hour:deriv1h' + s,
            legendFormat: 'balance slope, 1h {{account}}',
            instant: false,
            range: true,
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            refId: 'B',
          },
          {
            expr: 'account:sunor_credits_burn_per_hour:deriv6h' + s,
            legendFormat: 'balance slope, 6h {{account}}',
            instant: false,
            range: true,
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            refId: 'C',
          },
        ],
        fieldConfig: {
          defaults: {
            unit: 'none',
            decimals: 1,
            custom: {
              drawStyle: 'line',
              lineWidth: 2,
              fillOpacity: 10,
              spanNulls: false,
              showPoints: 'never',
            },
          },
          overrides: [],
        },
        options: {
          legend: {
            displayMode: 'table',
            showLegend: true,
            placement: 'bottom',
            calcs: ['lastNotNull', 'min', 'max'],
          },
          tooltip: {
            mode: 'multi',
            sort: 'desc',
          },
        },
      },
      {
        id: 13,
        type: 'timeseries',
        title: 'API errors by reason',
        description: "Failed API calls in each interval, by reason (see the README's table).",
        datasource: {
          type: 'prometheus',
          uid: '${datasource}',
        },
        gridPos: {
          x: 0,
          y: 26,
          w: 12,
          h: 8,
        },
        targets: [
          {
            expr: 'sum by (account, reason) (increase(sunor_api_errors_total' + s + '[$__rate_interval]))',
            legendFormat: '{{account}} {{reason}}',
            instant: false,
            range: true,
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            refId: 'A',
          },
        ],
        fieldConfig: {
          defaults: {
            unit: 'none',
            decimals: 0,
            custom: {
              drawStyle: 'bars',
              lineWidth: 2,
              fillOpacity: 10,
              spanNulls: false,
              showPoints: 'never',
              stacking: {
                mode: 'normal',
              },
            },
          },
          overrides: [],
        },
        options: {
          legend: {
            displayMode: 'table',
            showLegend: true,
            placement: 'bottom',
            calcs: ['lastNotNull', 'min', 'max'],
          },
          tooltip: {
            mode: 'multi',
            sort: 'desc',
          },
        },
      },
      {
        id: 14,
        type: 'timeseries',
        title: 'API request duration',
        description: 'How long the API call behind each scrape took.',
        datasource: {
          type: 'prometheus',
          uid: '${datasource}',
        },
        gridPos: {
          x: 12,
          y: 26,
          w: 12,
          h: 8,
        },
        targets: [
          {
            expr: 'sunor_api_request_duration_seconds' + s,
            legendFormat: '{{account}} {{endpoint}}',
            instant: false,
            range: true,
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            refId: 'A',
          },
        ],
        fieldConfig: {
          defaults: {
            unit: 's',
            decimals: 3,
            custom: {
              drawStyle: 'line',
              lineWidth: 2,
              fillOpacity: 10,
              spanNulls: false,
              showPoints: 'never',
            },
          },
          overrides: [],
        },
        options: {
          legend: {
            displayMode: 'table',
            showLegend: true,
            placement: 'bottom',
            calcs: ['lastNotNull', 'min', 'max'],
          },
          tooltip: {
            mode: 'multi',
            sort: 'desc',
          },
        },
      },
      {
        id: 15,
        type: 'timeseries',
        title: 'Rate-limit headroom',
        description: "Share of the key's requests per window left, as seen by the exporter's own calls. The budget is shared with all generation traffic of the key; SunorRateLimitNearlyExhausted fires under 10%.",
        datasource: {
          type: 'prometheus',
          uid: '${datasource}',
        },
        gridPos: {
          x: 0,
          y: 34,
          w: 12,
          h: 8,
        },
        targets: [
          {
            expr: 'account:sunor_rate_limit_remaining:ratio' + s,
            legendFormat: '{{account}}',
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            refId: 'A',
            instant: false,
            range: true,
          },
        ],
        fieldConfig: {
          defaults: {
            unit: 'percentunit',
            custom: {
              drawStyle: 'line',
              lineWidth: 2,
              fillOpacity: 10,
              spanNulls: false,
              showPoints: 'never',
            },
            min: 0,
            max: 1,
            thresholds: {
              mode: 'absolute',
              steps: [
                {
                  color: 'red',
                  value: null,
                },
                {
                  color: 'orange',
                  value: 0.1,
                },
                {
                  color: 'green',
                  value: 0.3,
                },
              ],
            },
          },
          overrides: [],
        },
        options: {
          legend: {
            displayMode: 'table',
            showLegend: true,
            placement: 'bottom',
            calcs: ['lastNotNull', 'min', 'max'],
          },
          tooltip: {
            mode: 'multi',
            sort: 'desc',
          },
        },
      },
      {
        id: 16,
        type: 'timeseries',
        title: 'Spent and topped up (per hour)',
        description: "From the usage endpoint's lifetime counters (--collector.usage).",
        datasource: {
          type: 'prometheus',
          uid: '${datasource}',
        },
        gridPos: {
          x: 12,
          y: 34,
          w: 12,
          h: 8,
        },
        targets: [
          {
            expr: 'rate(sunor_credits_used_total' + s + '[$__rate_interval]) * 3600',
            legendFormat: 'spent {{account}}',
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            refId: 'A',
            instant: false,
            range: true,
          },
          {
            expr: 'rate(sunor_credits_topped_up_total' + s + '[$__rate_interval]) * 3600',
            legendFormat: 'topped up {{account}}',
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            refId: 'B',
            instant: false,
            range: true,
          },
          {
            expr: 'rate(sunor_tasks_created_total' + s + '[$__rate_interval]) * 3600',
            legendFormat: 'tasks {{account}}',
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            refId: 'C',
            instant: false,
            range: true,
          },
        ],
        fieldConfig: {
          defaults: {
            unit: 'none',
            custom: {
              drawStyle: 'line',
              lineWidth: 2,
              fillOpacity: 10,
              spanNulls: false,
              showPoints: 'never',
            },
          },
          overrides: [],
        },
        options: {
          legend: {
            displayMode: 'table',
            showLegend: true,
            placement: 'bottom',
            calcs: ['lastNotNull', 'min', 'max'],
          },
          tooltip: {
            mode: 'multi',
            sort: 'desc',
          },
        },
      },
      {
        id: 17,
        type: 'timeseries',
        title: "Rate limit: the exporter's calls and requests left",
        description: "The exporter's own calls a minute with each account's key, all endpoints (rate(sunor_api_requests_total[5m]) * 60; at most --sunor.max-calls-per-minute, default 12), next to the requests left in the key's window as its latest call saw them (X-RateLimit-Remaining; 120 a minute per key, shared with your product). Little left while the exporter calls little: the rest of the budget goes to other traffic with the key. The remainder is the latest call's, held for up to 15 minutes when a scrape made no call, as SunorRateLimitNearlyExhausted sees it.",
        datasource: {
          type: 'prometheus',
          uid: '${datasource}',
        },
        gridPos: {
          x: 0,
          y: 42,
          w: 12,
          h: 8,
        },
        targets: [
          {
            expr: 'sum by (account) (rate(sunor_api_requests_total' + s + '[5m])) * 60',
            legendFormat: "exporter's calls {{account}}",
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            refId: 'A',
            instant: false,
            range: true,
          },
          {
            expr: 'last_over_time(sunor_rate_limit_remaining' + s + '[15m])',
            legendFormat: 'left in the window {{account}}',
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            refId: 'B',
            instant: false,
            range: true,
          },
        ],
        fieldConfig: {
          defaults: {
            unit: 'none',
            min: 0,
            custom: {
              drawStyle: 'line',
              lineWidth: 2,
              fillOpacity: 10,
              spanNulls: false,
              showPoints: 'never',
            },
          },
          overrides: [],
        },
        options: {
          legend: {
            displayMode: 'table',
            showLegend: true,
            placement: 'bottom',
            calcs: ['lastNotNull', 'min', 'max'],
          },
          tooltip: {
            mode: 'multi',
            sort: 'desc',
          },
        },
      },
      {
        id: 18,
        type: 'timeseries',
        title: 'API calls skipped by reason',
        description: "Scrapes answered without an API call, in each interval, by reason: budget (the --sunor.max-calls-per-minute ceiling), reserve (X-RateLimit-Remaining at or below --sunor.rate-limit-reserve: other traffic is using up the key's budget), backoff (after a 429), cache (--sunor.cache-ttl). Such a scrape reuses the last good answer while it is at most 5 minutes old.",
        datasource: {
          type: 'prometheus',
          uid: '${datasource}',
        },
        gridPos: {
          x: 12,
          y: 42,
          w: 12,
          h: 8,
        },
        targets: [
          {
            expr: 'sum by (account, reason) (increase(sunor_api_calls_skipped_total' + s + '[$__rate_interval]))',
            legendFormat: '{{account}} {{reason}}',
            instant: false,
            range: true,
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            refId: 'A',
          },
        ],
        fieldConfig: {
          defaults: {
            unit: 'none',
            decimals: 0,
            custom: {
              drawStyle: 'bars',
              lineWidth: 2,
              fillOpacity: 10,
              spanNulls: false,
              showPoints: 'never',
              stacking: {
                mode: 'normal',
              },
            },
          },
          overrides: [],
        },
        options: {
          legend: {
            displayMode: 'table',
            showLegend: true,
            placement: 'bottom',
            calcs: ['lastNotNull', 'min', 'max'],
          },
          tooltip: {
            mode: 'multi',
            sort: 'desc',
          },
        },
      },
      {
        id: 20,
        type: 'timeseries',
        title: 'Spend against the daily budget',
        description: "Spending as a multiple of the daily budget's even pace (budget / 24 an hour), over the windows SunorSpendOverBudget uses: 1 spends exactly the budget in a day. The alert is a warning when the 4-hour and 30-minute lines are both over 3, critical when the 30-minute and 5-minute ones are both over 6. Only accounts with a daily_budget have lines.",
        datasource: {
          type: 'prometheus',
          uid: '${datasource}',
        },
        gridPos: {
          x: 0,
          y: 50,
          w: 24,
          h: 8,
        },
        targets: [
          {
            expr: 'account:sunor_credits_budget_burn:5m' + s,
            legendFormat: '5m {{account}}',
            instant: false,
            range: true,
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            refId: 'A',
          },
          {
            expr: 'account:sunor_credits_budget_burn:30m' + s,
            legendFormat: '30m {{account}}',
            instant: false,
            range: true,
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            refId: 'B',
          },
          {
            expr: 'account:sunor_credits_budget_burn:4h' + s,
            legendFormat: '4h {{account}}',
            instant: false,
            range: true,
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            refId: 'C',
          },
        ],
        fieldConfig: {
          defaults: {
            unit: 'none',
            decimals: 1,
            custom: {
              drawStyle: 'line',
              lineWidth: 2,
              fillOpacity: 0,
              spanNulls: false,
              showPoints: 'never',
              thresholdsStyle: {
                mode: 'dashed',
              },
            },
            thresholds: {
              mode: 'absolute',
              steps: [
                {
                  color: 'green',
                  value: null,
                },
                {
                  color: 'orange',
                  value: 3,
                },
                {
                  color: 'red',
                  value: 6,
                },
              ],
            },
          },
          overrides: [],
        },
        options: {
          legend: {
            displayMode: 'table',
            showLegend: true,
            placement: 'bottom',
            calcs: ['lastNotNull', 'max'],
          },
          tooltip: {
            mode: 'multi',
            sort: 'desc',
          },
        },
      },
      // API call latency from the histogram sunor_api_call_duration_seconds
      // (classic buckets), per endpoint: p50 and p99 across the selected
      // accounts. sunor_api_request_duration_seconds, the last call's
      // duration only, has its own panel above until it is removed.
      {
        id: 22,
        type: 'timeseries',
        title: 'API call latency (p50, p99)',
        description: "Quantiles of the duration of the exporter's calls to the Sunor API, per endpoint, from the histogram sunor_api_call_duration_seconds over the selected accounts. A p99 near --sunor.timeout means calls time out.",
        datasource: {
          type: 'prometheus',
          uid: '${datasource}',
        },
        gridPos: {
          x: 0,
          y: 58,
          w: 24,
          h: 8,
        },
        fieldConfig: {
          defaults: {
            unit: 's',
            min: 0,
            custom: {
              drawStyle: 'line',
              lineWidth: 2,
              fillOpacity: 10,
              spanNulls: false,
              showPoints: 'never',
            },
          },
          overrides: [],
        },
        options: {
          legend: {
            displayMode: 'table',
            placement: 'bottom',
            calcs: ['lastNotNull', 'max'],
            showLegend: true,
          },
          tooltip: {
            mode: 'multi',
            sort: 'desc',
          },
        },
        targets: [
          {
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            expr: 'histogram_quantile(%s, sum by (le, endpoint) (rate(sunor_api_call_duration_seconds_bucket' % q.q + s + '[$__rate_interval])))',
            legendFormat: '{{endpoint}} ' + q.name,
            refId: q.refId,
          }
          for q in [{ q: '0.5', name: 'p50', refId: 'A' }, { q: '0.99', name: 'p99', refId: 'B' }]
        ],
      },

    ],
  }
