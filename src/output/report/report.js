"use strict";
// huntlake's triage report: timelines drawn on demand from the data embedded once, copy
// buttons for the pivots, and the section named in the address opened. Values from the lake
// only ever reach the page as text (textContent), never as markup.
(function () {
  var data = JSON.parse(document.getElementById("huntlake-data").textContent);
  var svgNs = "http://www.w3.org/2000/svg";
  var kinds = ["process", "network", "file", "image"];
  var kindNames = ["child process", "connection", "file", "image load"];
  var kindPlurals = ["child processes", "connections", "files written", "image loads"];

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // A timeline's events from their compact form: [ticks after the first day, kind, what,
  // detail], the ticks as 100-ns units summed from differences, the texts from the table.
  function decode(timeline) {
    var tick = 0;
    return (timeline.ticks || []).map(function (delta, i) {
      tick += delta;
      return [tick, timeline.kinds[i], data.strings[timeline.whats[i]], data.strings[timeline.details[i]]];
    });
  }

  // Kusto's datetime text (7 fractional digits) of a tick count after the first day.
  function kustoTime(tick) {
    var millis = Math.floor(tick / 10000);
    var rest = String(tick - millis * 10000);
    var text = new Date(data.firstDay + millis).toISOString();
    return text.slice(0, 23) + "0000".slice(rest.length) + rest + "Z";
  }

  function chart(events) {
    var days = data.days, width = 560, height = 60, gap = 2;
    var counts = new Array(days).fill(0);
    events.forEach(function (e) {
      var day = Math.floor(e[0] / 864000000000);
      counts[Math.max(0, Math.min(days - 1, day))] += 1;
    });
    var max = Math.max.apply(null, counts.concat([1]));
    var svg = document.createElementNS(svgNs, "svg");
    svg.setAttribute("viewBox", "0 0 " + width + " " + (height + 14));
    svg.setAttribute("class", "chart timeline-chart");
    svg.setAttribute("role", "img");
    var barWidth = width / days;
    counts.forEach(function (count, i) {
      var bar = document.createElementNS(svgNs, "rect");
      var h = count ? Math.max(2, (height * count) / max) : 0;
      bar.setAttribute("class", "day");
      bar.setAttribute("x", i * barWidth + gap / 2);
      bar.setAttribute("y", height - h);
      bar.setAttribute("width", Math.max(1, barWidth - gap));
      bar.setAttribute("height", h);
      var title = document.createElementNS(svgNs, "title");
      title.textContent = data.labels[i] + ": " + count + " events";
      bar.appendChild(title);
      svg.appendChild(bar);
    });
    var axis = document.createElementNS(svgNs, "line");
    axis.setAttribute("class", "axis");
    axis.setAttribute("x1", 0);
    axis.setAttribute("x2", width);
    axis.setAttribute("y1", height + 0.5);
    axis.setAttribute("y2", height + 0.5);
    svg.appendChild(axis);
    [[0, "start"], [days - 1, "end"]].forEach(function (end) {
      var label = document.createElementNS(svgNs, "text");
      label.setAttribute("x", end[1] === "start" ? 0 : width);
      label.setAttribute("y", height + 12);
      label.setAttribute("text-anchor", end[1]);
      label.textContent = data.labels[end[0]];
      svg.appendChild(label);
    });
    return svg;
  }

  // The rule's sets, as lists of their non-empty elements.
  function drawSets(section, timeline) {
    var list = section.querySelector("ul.sets");
    Object.keys(timeline.sets || {}).forEach(function (name) {
      var total = timeline.sets[name][0];
      var items = timeline.sets[name][1].map(function (i) { return data.strings[i]; });
      if (!items.length) return;
      var item = element("li");
      item.appendChild(element("b", null, name));
      item.appendChild(document.createTextNode(": "));
      item.appendChild(element("span", "mono", items.join(", ")));
      if (total > items.length) {
        item.appendChild(element("span", "more", " … and " + (total - items.length) + " more"));
      }
      list.appendChild(item);
    });
  }

  // A SQL literal: quotes doubled, so a value stays a value.
  function literal(value) { return "'" + String(value).replace(/'/g, "''") + "'"; }

  // For each table, the SQL that lists this instance's events (its initiating process has the
  // instance's 7 keys).
  function drawPivots(section, timeline) {
    var columns = ["DeviceName", "InitiatingProcessFileName", "InitiatingProcessCommandLine",
      "InitiatingProcessCreationTime", "InitiatingProcessId", "InitiatingProcessAccountName",
      "InitiatingProcessSHA1"];
    var conditions = columns.map(function (column, i) {
      var value = (timeline.keys || [])[i];
      if (value === null || value === undefined) return column + " IS NULL";
      if (typeof value === "number") return column + " = " + value;
      if (i === 3) return column + " = TIMESTAMP " + literal(value);
      return column + " = " + literal(value);
    });
    var target = section.querySelector(".pivots");
    data.tables.forEach(function (table) {
      var pivot = element("div", "pivot");
      pivot.appendChild(element("b", null, table));
      pivot.appendChild(document.createTextNode(" "));
      var button = element("button", "copy", "Copy");
      button.type = "button";
      pivot.appendChild(button);
      pivot.appendChild(element("pre", "sql", "SELECT *\nFROM " + table + "\nWHERE " +
        conditions.join("\n  AND ") + "\nORDER BY TimeGenerated;"));
      target.appendChild(pivot);
    });
  }

  function render(section) {
    var target = section.querySelector(".timeline");
    if (!target || target.dataset.drawn) return;
    target.dataset.drawn = "1";
    var timeline = data.timelines[section.id] || { totals: [0, 0, 0, 0] };
    var events = decode(timeline);
    drawSets(section, timeline);
    drawPivots(section, timeline);
    var summary = element("p", "totals");
    timeline.totals.forEach(function (total, k) {
      var shown = events.filter(function (e) { return e[1] === k; }).length;
      var text = kindPlurals[k] + ": " + total + (shown < total ? " (first " + shown + " shown)" : "");
      summary.appendChild(element("span", "total k-" + kinds[k], text));
    });
    target.appendChild(summary);
    target.appendChild(chart(events));
    var list = element("ol", "events");
    events.forEach(function (e) {
      var item = element("li", "event k-" + kinds[e[1]]);
      item.appendChild(element("time", null, kustoTime(e[0])));
      item.appendChild(element("span", "kind", kindNames[e[1]]));
      item.appendChild(element("span", "what", e[2]));
      item.appendChild(element("span", "detail", e[3]));
      list.appendChild(item);
    });
    target.appendChild(list);
  }

  document.addEventListener("toggle", function (event) {
    if (event.target.open && event.target.classList.contains("detection")) render(event.target);
  }, true);

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button.copy");
    if (!button) return;
    var text = button.parentNode.querySelector("pre").textContent;
    var done = function () { button.textContent = "Copied"; };
    if (navigator.clipboard) {
      navigator.clipboard.writeText(text).then(done, function () { select(button); });
    } else {
      select(button);
    }
  });

  function select(button) {
    var range = document.createRange();
    range.selectNodeContents(button.parentNode.querySelector("pre"));
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    button.textContent = "Selected: copy with Ctrl-C";
  }

  function openFromAddress() {
    if (!location.hash) return;
    var section = document.getElementById(decodeURIComponent(location.hash.slice(1)));
    if (section && section.classList.contains("detection")) {
      render(section);
      section.open = true;
      section.scrollIntoView();
    }
  }
  window.addEventListener("hashchange", openFromAddress);
  openFromAddress();
  document.documentElement.dataset.readyMs = String(Math.round(performance.now()));
})();
