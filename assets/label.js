/* Label tab (dashboard/panels/label.py): the keyboard, the clicks on chips and quicklooks, and the clientside
   callbacks that apply them to the answers kept in the browser and draw the cards (no keystroke waits for the
   server). Keys, when the Label tab is on screen and no text field has the focus:
   Enter / a accept the focused card's labels, 1-9 and 0 set its class (single-label) or toggle it (multi-label),
   u unsure, r remove from training, Backspace restore the prediction, arrows move the focus. */
(function () {
  "use strict";
  // Every command carries a sequence number and stays pending until the answers store shows it applied: a key
  // pressed before the store took the previous one is replayed on the store's value (no keystroke is lost).
  var seq = 0, pending = [], base = 0;
  function typing(t) {
    if (!t) return false;
    if (t.tagName === "TEXTAREA" || t.isContentEditable) return true;
    return t.tagName === "INPUT" && !/^(checkbox|radio|button|submit)$/.test(t.type || "");
  }
  function panel() {
    var p = document.getElementById("label-panel");
    return p && p.offsetParent !== null ? p : null;
  }
  function send(cmd) {
    if (!(window.dash_clientside && window.dash_clientside.set_props)) return;
    seq += 1;
    cmd.seq = seq;
    pending.push(cmd);
    window.dash_clientside.set_props("label-key-store", {data: {cmds: pending.slice(), seq: seq}});
  }
  function cards() { return Array.prototype.slice.call(document.querySelectorAll("#label-body .label-card")); }
  function columns(list) {
    if (!list.length) return 1;
    var top = list[0].offsetTop, n = 0;
    for (var i = 0; i < list.length && list[i].offsetTop === top; i++) n++;
    return Math.max(n, 1);
  }
  document.addEventListener("keydown", function (ev) {
    if (!panel() || typing(ev.target) || ev.altKey || ev.ctrlKey || ev.metaKey) return;
    var overlay = document.getElementById("help-overlay");
    if (overlay && !overlay.hidden) return;
    var k = ev.key || "", cmd = null;
    if (ev.target && ev.target.tagName === "BUTTON" && !ev.target.closest(".label-card") && k === "Enter") return;
    if (k === "Enter" || k === "a" || k === "A") cmd = {key: "accept"};
    else if (/^[0-9]$/.test(k)) cmd = {key: "class:" + ((parseInt(k, 10) + 9) % 10)};
    else if (k === "u" || k === "U") cmd = {key: "unsure"};
    else if (k === "r" || k === "R") cmd = {key: "removed"};
    else if (k === "Backspace") cmd = {key: "reset"};
    else if (/^Arrow(Left|Right|Up|Down)$/.test(k)) {
      var list = cards();
      if (!list.length) return;
      var d = /Left|Right/.test(k) ? 1 : columns(list);
      cmd = {key: "move", d: /Left|Up/.test(k) ? -d : d};
    }
    if (!cmd || !cards().length) return;
    ev.preventDefault();
    send(cmd);
  });
  document.addEventListener("click", function (ev) {
    var t = ev.target;
    if (!t || !t.closest || !panel()) return;
    var pal = t.closest("#label-palette .label-class");
    if (pal) { send({key: "class:" + pal.getAttribute("data-cls")}); return; }
    var chip = t.closest(".label-card .label-chips .chip[data-cls]");
    if (chip) {
      var c = chip.closest(".label-card");
      send({key: "remove:" + chip.getAttribute("data-cls"), i: parseInt(c.getAttribute("data-i"), 10)});
      return;
    }
    var pic = t.closest(".label-card .label-pic");
    if (pic) {
      send({key: "focus", i: parseInt(pic.getAttribute("data-i"), 10)});
      if (window.dash_clientside && window.dash_clientside.set_props) {
        window.dash_clientside.set_props("selected-store", {data: pic.getAttribute("data-patch")});
      }
      pic.blur();
    }
  });

  function answerOf(batch, answers, i) {
    var pid = batch.ids[i], a = answers && answers[pid];
    if (a) return {labels: (a.labels || []).slice(), mark: a.mark || "", done: !!a.done};
    var p = (batch.predicted[i] || []).slice();
    return {labels: batch.multi ? p : p.slice(0, 1), mark: "", done: false};
  }
  function cardClass(a, focused) {
    var c = "label-card";
    if (a.mark) c += " is-" + a.mark; else if (a.done) c += " is-done";
    return c + (focused ? " focused" : "");
  }
  function span(text, cls, extra) {
    var props = {children: text, className: cls};
    for (var k in (extra || {})) props[k] = extra[k];
    return {type: "Span", namespace: "dash_html_components", props: props};
  }
  function chips(batch, a) {
    if (a.mark === "removed") return [span("removed from training", "chip chip-none")];
    if (a.mark === "unsure") return [span("unsure", "chip chip-none")];
    var out = [];
    (a.labels || []).forEach(function (name) {
      for (var j = 0; j < batch.classes.length; j++) {
        var c = batch.classes[j];
        if (c.name === name) {
          out.push(span(c.short, "chip", {title: name + " (click to remove)", "data-cls": String(j),
                                         style: {background: c.color, color: c.fg}}));
        }
      }
    });
    return out.length ? out : [span("no label", "chip chip-none")];
  }

  // one command on the answers (changed in place); returns the new focus
  function step(batch, out, focus, cmd) {
    var n = batch.ids.length, f = Math.min(Math.max(focus || 0, 0), n - 1);
    var i = cmd.i !== undefined && cmd.i !== null ? Math.min(Math.max(cmd.i, 0), n - 1) : f;
    if (cmd.key === "focus") return i;
    if (cmd.key === "move") return Math.min(Math.max(f + (cmd.d || 0), 0), n - 1);
    var a = answerOf(batch, out, i), next = i, key = cmd.key;
    if (key === "accept") {
      if (!a.labels.length && !a.mark) return i;  // nothing to accept: give the card a class first
      a.done = true; a.mark = ""; next = Math.min(i + 1, n - 1);
    } else if (key === "unsure" || key === "removed") {
      a.mark = a.mark === key ? "" : key;
      if (a.mark) next = Math.min(i + 1, n - 1);
    } else if (key === "reset") {
      var p = (batch.predicted[i] || []).slice();
      a = {labels: batch.multi ? p : p.slice(0, 1), mark: "", done: false};
    } else if (key.indexOf("class:") === 0 || key.indexOf("remove:") === 0) {
      var j = parseInt(key.split(":")[1], 10), c = batch.classes[j];
      if (!c) return f;
      var at = a.labels.indexOf(c.name);
      if (key.indexOf("remove:") === 0) { if (at >= 0) a.labels.splice(at, 1); }
      else if (batch.multi) { if (at >= 0) a.labels.splice(at, 1); else a.labels.push(c.name); }
      else { a.labels = [c.name]; next = Math.min(i + 1, n - 1); }
      a.done = true; a.mark = "";
    } else return f;
    out[batch.ids[i]] = a;
    return next;
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    eomine_label: {
      apply: function (keys, batch, answers, focus) {
        var nu = window.dash_clientside.no_update;
        if (!keys || !keys.cmds || !batch || !batch.ids || !batch.ids.length) return [nu, nu];
        var done = answers && answers._seq !== undefined ? answers._seq : base;
        var out = Object.assign({}, answers || {});
        var f = answers && answers._focus !== undefined ? answers._focus : (focus || 0), any = false;
        keys.cmds.forEach(function (cmd) {
          if (cmd.seq <= done) return;
          f = step(batch, out, f, cmd);
          done = cmd.seq;
          any = true;
        });
        if (!any) return [nu, nu];
        out._seq = done;
        out._focus = f;
        return [out, f];
      },
      render: function (answers, focus, batch) {
        if (!answers || answers._seq === undefined) { pending = []; base = seq; }  // a new batch: old keys are void
        else pending = pending.filter(function (c) { return c.seq > answers._seq; });
        var ctx = window.dash_clientside.callback_context, lists = ctx.outputs_list || [];
        var cardsOut = lists[0] || [], chipsOut = lists[1] || [];
        if (!batch || !batch.ids) return [cardsOut.map(function () { return "label-card"; }),
                                          chipsOut.map(function () { return []; }), ""];
        var pos = {};
        batch.ids.forEach(function (pid, i) { pos[pid] = i; });
        var f = answers && answers._focus !== undefined ? answers._focus : (focus || 0);
        var classes = cardsOut.map(function (o) {
          var i = pos[o.id.index];
          return i === undefined ? "label-card" : cardClass(answerOf(batch, answers, i), i === f);
        });
        var chipLists = chipsOut.map(function (o) {
          var i = pos[o.id.index];
          return i === undefined ? [] : chips(batch, answerOf(batch, answers, i));
        });
        var done = 0, unsure = 0, removed = 0;
        batch.ids.forEach(function (pid, i) {
          var a = answerOf(batch, answers, i);
          if (a.mark === "unsure") unsure++; else if (a.mark === "removed") removed++; else if (a.done) done++;
        });
        var what = batch.round === 0 ? "check set" : "round " + batch.round + " (" + batch.strategy + ")";
        var text = what + ": " + done + " of " + batch.ids.length + " labelled" +
          (unsure ? " · " + unsure + " unsure" : "") + (removed ? " · " + removed + " removed" : "");
        setTimeout(function () {  // keep the focused card in view, scrolling the cards only (never the page)
          var el = document.querySelector("#label-body .label-card.focused"), box = document.getElementById("label-body");
          if (!el || !box) return;
          var r = el.getBoundingClientRect(), b = box.getBoundingClientRect();
          if (r.top < b.top) box.scrollTop += r.top - b.top - 4;
          else if (r.bottom > b.bottom) box.scrollTop += r.bottom - b.bottom + 4;
        }, 0);
        return [classes, chipLists, text];
      },
      accept_all: function (n, batch, answers) {
        var nu = window.dash_clientside.no_update;
        if (!n || !batch || !batch.ids) return nu;
        var out = Object.assign({}, answers || {});
        batch.ids.forEach(function (pid, i) {
          var a = answerOf(batch, out, i);
          if (!a.mark && !a.done) { a.done = true; out[pid] = a; }
        });
        return out;
      }
    }
  });
})();
