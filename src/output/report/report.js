"use strict";
// huntlake's triage report: timelines drawn on demand from the data embedded once, copy
// buttons for the pivots, and the section named in the address opened. Values from the lake
// only ever reach the page as text (textContent), never as markup.
(function () {
  // The embedded data is read when first needed: a section drawn, or the page idle after
  // loading (a long report's page is usable before it has read tens of megabytes).
  var parsed = null;
  function data() {
    if (!parsed) parsed = JSON.parse(document.getElementById("huntlake-data").textContent);
    return parsed;
  }
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
  // detail], the ticks as 100-ns units summed from differences, the texts from the table (the
  // detail: the action, if any, then the command line, URL or hash).
  function decode(timeline) {
    var tick = 0;
    return (timeline.ticks || []).map(function (delta, i) {
      tick += delta;
      var detail = [data().strings[timeline.actions[i]], data().strings[timeline.details[i]]]
        .filter(function (part) { return part; }).join(" ");
      return [tick, timeline.kinds[i], data().strings[timeline.whats[i]], detail];
    });
  }

  // Kusto's datetime text (7 fractional digits) of a tick count after the first day.
  function kustoTime(tick) {
    var millis = Math.floor(tick / 10000);
    var rest = String(tick - millis * 10000);
    var text = new Date(data().firstDay + millis).toISOString();
    return text.slice(0, 23) + "0000".slice(rest.length) + rest + "Z";
  }

  function chart(events) {
    var days = data().days, width = 560, height = 60, gap = 2;
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
      title.textContent = data().labels[i] + ": " + count + " events";
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
      label.textContent = data().labels[end[0]];
      svg.appendChild(label);
    });
    return svg;
  }

  // A list of facts: [name, text] pairs as <dt>/<dd>.
  function facts(className, pairs) {
    var list = element("dl", className);
    pairs.forEach(function (pair) {
      list.appendChild(element("dt", null, pair[0]));
      list.appendChild(element("dd", null, pair[1]));
    });
    return list;
  }

  // A key's text as the rule's output has it ("(null)" where it has none).
  function shown(value) { return value === null || value === undefined ? "(null)" : String(value); }

  // The instance and its fleet prevalence.
  function drawFacts(body, id, timeline) {
    var keys = timeline.keys || [];
    var host = timeline.host || ["", ""];
    var times = timeline.events || [null, null];
    var prevalence = timeline.prevalence || [0, 0, null];
    var columns = element("div", "cols");
    var instance = element("div");
    instance.appendChild(element("h3", null, "The instance"));
    instance.appendChild(facts("facts mono", [
      ["Device", shown(keys[0])], ["Host", host[0]], ["DNS domain", host[1]],
      ["Service", shown(keys[1])], ["Command line", shown(keys[2])], ["User", shown(keys[5])],
      ["SHA-1", shown(keys[6])], ["Created", shown(keys[3])], ["Process id", shown(keys[4])],
      ["Launches in the window", timeline.launches + " (rare: fewer than " + data().threshold + ")"],
      ["Events", (times[0] || "") + " → " + (times[1] || "")],
      ["Alert id", id]
    ]));
    columns.appendChild(instance);
    var fleet = element("div");
    fleet.appendChild(element("h3", null, "Fleet prevalence"));
    fleet.appendChild(facts("facts", [
      ["Devices running this service", prevalence[0] + " in the window"],
      ["Devices running this SHA-1", prevalence[1] + " in the window (as a service or not)"],
      ["First seen in the lake", prevalence[2] || "never"]
    ]));
    fleet.appendChild(element("h3", null, "What the rule gathered"));
    fleet.appendChild(element("ul", "sets"));
    columns.appendChild(fleet);
    body.appendChild(columns);
    body.appendChild(element("h3", null, "Timeline"));
    body.appendChild(element("p", "sub", "Its events in the window, at most " + data().maxEvents +
      " per kind (the earliest), with the full counts."));
    var target = element("div", "timeline");
    target.dataset.for = id;
    body.appendChild(target);
    body.appendChild(element("h3", null, "Pivots"));
    var note = element("p", "sub", "This instance's events in each table, to paste into ");
    note.appendChild(element("code", null, "huntlake sql"));
    note.appendChild(document.createTextNode("."));
    body.appendChild(note);
    body.appendChild(element("div", "pivots"));
  }

  // The rule's sets, as lists of their non-empty elements.
  function drawSets(section, timeline) {
    var list = section.querySelector("ul.sets");
    Object.keys(timeline.sets || {}).forEach(function (name) {
      var total = timeline.sets[name][0];
      var items = timeline.sets[name][1].map(function (i) { return data().strings[i]; });
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
    data().tables.forEach(function (table) {
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

  // A section's instance and prevalence (once).
  function drawBody(section) {
    var body = section.querySelector(".body");
    if (!body || body.dataset.drawn) return;
    body.dataset.drawn = "1";
    drawFacts(body, section.id, data().timelines[section.id] || {});
  }

  // A section whole: its body, then its sets, timeline and pivots (once).
  function render(section) {
    drawBody(section);
    var target = section.querySelector(".timeline");
    if (!target || target.dataset.drawn) return;
    target.dataset.drawn = "1";
    var timeline = data().timelines[section.id] || { totals: [0, 0, 0, 0] };
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

  function setOpen(section, open) {
    if (open) render(section);
    section.classList.toggle("open", open);
    section.querySelector(".summary").setAttribute("aria-expanded", String(open));
  }

  function toggleFrom(event) {
    var summary = event.target.closest(".detection > .summary");
    if (!summary) return false;
    var section = summary.parentNode;
    setOpen(section, !section.classList.contains("open"));
    return true;
  }
  document.addEventListener("keydown", function (event) {
    if ((event.key === "Enter" || event.key === " ") && toggleFrom(event)) event.preventDefault();
  });

  document.addEventListener("click", function (event) {
    if (toggleFrom(event)) return;
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
      setOpen(section, true);
      section.scrollIntoView();
    }
  }
  // A short report has every section's instance drawn at once, so that the browser's search
  // finds any value; a long one draws a section when it opens.
  var sections = document.querySelectorAll(".detection");
  if (sections.length <= 200) Array.prototype.forEach.call(sections, drawBody);
  window.addEventListener("hashchange", openFromAddress);
  openFromAddress();
  setTimeout(data, 0);
  document.documentElement.dataset.readyMs = String(Math.round(performance.now()));
})();
