// Small helpers of the mixin's rules.
{
  // fold joins the lines of a text block with spaces, as YAML's folded
  // scalars (>-) do: the source keeps one sentence a line, the rule's
  // value is one line.
  fold(text)::
    std.join(' ', std.filter(function(l) l != '', std.split(text, '\n'))),

  // duration turns a Prometheus duration of one unit ('10m', '1h') into
  // words for a description ('10 minutes', 'an hour'), so that a changed
  // for: changes the text with it.
  duration(d)::
    local unit = std.substr(d, std.length(d) - 1, 1);
    local digits = std.substr(d, 0, std.length(d) - 1);
    local words = { s: 'second', m: 'minute', h: 'hour', d: 'day' };
    assert std.objectHas(words, unit) && digits != ''
           && std.all([std.member('0123456789', c) for c in std.stringChars(digits)])
           : 'duration %s: want a whole number and one of s, m, h, d, like 10m' % d;
    local n = std.parseInt(digits);
    if n == 1 then (if unit == 'h' then 'an ' else 'a ') + words[unit]
    else '%d %ss' % [n, words[unit]],

  // target names what sunorSelector selects, for a description: 'job
  // "sunor"' for the usual job="sunor", else the selector itself.
  target(selector)::
    local inner = std.substr(selector, 5, std.length(selector) - 6);
    if std.startsWith(selector, 'job="') && std.endsWith(selector, '"')
       && std.length(selector) > 6 && std.length(std.findSubstr('"', inner)) == 0
    then 'job "%s"' % inner
    else 'the targets {%s}' % selector,

  runbookURL(pattern, alert):: pattern % std.asciiLower(alert),
}
