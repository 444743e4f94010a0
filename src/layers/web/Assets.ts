/**
 * The web interface's stylesheet and scripts, served from our own code at `/-/static/*`.
 * Pages work without the scripts; they only enhance (line ranges, live dashboard).
 */

export const STYLE_CSS = `
:root{color-scheme:light dark;--bg:#fff;--fg:#1f2328;--muted:#59636e;--border:#d1d9e0;--panel:#f6f8fa;
--link:#0550ae;--accent:#1f6feb;--ok:#1a7f37;--bad:#cf222e;--warn:#9a6700;--add:#dafbe1;--del:#ffebe9;
--addfg:#116329;--delfg:#a40e26;--hl:#fff8c5;--focus:#0969da;--btnfg:#fff}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9198a1;--border:#3d444d;
--panel:#151b23;--link:#4493f8;--accent:#388bfd;--ok:#3fb950;--bad:#f85149;--warn:#d29922;
--add:#12261e;--del:#25171c;--addfg:#7ee787;--delfg:#ffa198;--hl:#3a3000;--focus:#58a6ff;--btnfg:#fff}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif}
a{color:var(--link)}
:focus-visible{outline:3px solid var(--focus);outline-offset:2px}
.skip{position:absolute;left:-999px;top:0;background:var(--bg);padding:.5em 1em;z-index:10}
.skip:focus{left:0}
header.site{display:flex;flex-wrap:wrap;gap:.5em 1em;align-items:center;padding:.6em 1em;border-bottom:1px solid var(--border);background:var(--panel)}
header.site .brand{font-weight:700;text-decoration:none;color:var(--fg);font-size:1.1em}
header.site nav ul{display:flex;flex-wrap:wrap;gap:.25em 1em;list-style:none;margin:0;padding:0}
header.site form.search{flex:1 1 12em;display:flex;gap:.3em;max-width:26em}
header.site form.search input{flex:1}
header.site .me{margin-left:auto;display:flex;gap:.6em;align-items:center;flex-wrap:wrap}
main{max-width:1200px;margin:0 auto;padding:1em}
footer.site{border-top:1px solid var(--border);color:var(--muted);padding:1em;text-align:center;font-size:.9em}
h1{font-size:1.5em;margin:.3em 0}h2{font-size:1.25em}
.muted{color:var(--muted)}
.box{border:1px solid var(--border);border-radius:6px;margin:1em 0;overflow:hidden}
.box>header,.box>.head{background:var(--panel);padding:.5em .8em;border-bottom:1px solid var(--border);display:flex;flex-wrap:wrap;gap:.5em;align-items:center;justify-content:space-between}
.box>.body{padding:.8em}
ul.rows{list-style:none;margin:0;padding:0}
ul.rows>li{padding:.5em .8em;border-top:1px solid var(--border);display:flex;flex-wrap:wrap;gap:.3em 1em;align-items:baseline}
ul.rows>li:first-child{border-top:0}
table.files{width:100%;border-collapse:collapse}
table.files td{padding:.35em .8em;border-top:1px solid var(--border)}
table.files tr:first-child td{border-top:0}
.tabs{display:flex;flex-wrap:wrap;gap:.2em;border-bottom:1px solid var(--border);margin:.5em 0 1em;padding:0;list-style:none}
.tabs a{display:block;padding:.4em .8em;text-decoration:none;color:var(--fg);border-bottom:2px solid transparent}
.tabs a[aria-current=page]{border-bottom-color:var(--accent);font-weight:600}
button,.button{font:inherit;padding:.35em .9em;border:1px solid var(--border);border-radius:6px;background:var(--panel);color:var(--fg);cursor:pointer;text-decoration:none;display:inline-block}
button.primary,.button.primary{background:var(--ok);border-color:var(--ok);color:var(--btnfg)}
button.danger{color:var(--bad)}
input,select,textarea{font:inherit;color:var(--fg);background:var(--bg);border:1px solid var(--border);border-radius:6px;padding:.35em .5em;max-width:100%}
textarea{width:100%;min-height:6em}
label{font-weight:600;display:block;margin:.6em 0 .2em}
label.inline{display:inline;font-weight:400;margin:0 .8em 0 .2em}
form.stack{max-width:40em}
.flash{padding:.6em 1em;border-radius:6px;border:1px solid var(--border);background:var(--panel);margin:1em 0}
.flash.error{border-color:var(--bad)}
.state{display:inline-block;padding:.1em .7em;border-radius:2em;color:var(--btnfg);font-weight:600;font-size:.9em}
.state.open{background:var(--ok)}.state.closed{background:var(--bad)}.state.merged{background:#8250df}.state.draft{background:var(--muted)}
.label{display:inline-block;padding:0 .6em;border-radius:2em;font-size:.85em;font-weight:600;border:1px solid var(--border)}
.code-wrap{overflow-x:auto}
table.code{border-collapse:collapse;width:100%;font:13px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
table.code td{padding:0 .6em;white-space:pre;vertical-align:top}
table.code td.ln{text-align:right;user-select:none;width:1%;color:var(--muted)}
table.code td.ln a{color:inherit;text-decoration:none}
table.code tr:target,table.code tr.hl{background:var(--hl)}
table.diff tr.add td.lc{background:var(--add)}table.diff tr.del td.lc{background:var(--del)}
table.diff tr.add td.lc::before{content:"+";color:var(--addfg)}table.diff tr.del td.lc::before{content:"-";color:var(--delfg)}
table.diff tr.ctx td.lc::before{content:" "}
table.diff tr.hunk td{background:var(--panel);color:var(--muted)}
table.diff td.half{width:50%}
table.diff tr td.add{background:var(--add)}table.diff tr td.del{background:var(--del)}
tr.thread td{white-space:normal;background:var(--panel);font-family:system-ui,sans-serif;padding:.5em}
.comment{border:1px solid var(--border);border-radius:6px;margin:.8em 0;overflow:hidden}
.comment>header{background:var(--panel);padding:.4em .8em;border-bottom:1px solid var(--border)}
.comment>.body{padding:.6em .8em;overflow-wrap:anywhere}
.markdown pre,.plain{white-space:pre-wrap;overflow-wrap:anywhere;font:13px/1.45 ui-monospace,monospace}
.markdown img{max-width:100%}
.code-wrap{position:relative}
details.line-comment{display:inline-block;vertical-align:top}
table.code td.ln{white-space:nowrap}
details.line-comment summary{cursor:pointer;display:inline-block;list-style:none;width:1.3em;text-align:center;border-radius:4px;background:var(--accent);color:var(--btnfg);font-weight:700;margin-right:.3em;opacity:.25}
details.line-comment summary::-webkit-details-marker{display:none}
tr:hover details.line-comment summary,details.line-comment summary:focus-visible,details.line-comment[open] summary{opacity:1}
details.line-comment[open]>form{position:absolute;left:.5em;right:.5em;z-index:5;margin-top:1.6em;padding:.6em;background:var(--bg);border:1px solid var(--border);border-radius:6px;box-shadow:0 4px 16px rgba(0,0,0,.25);text-align:left;white-space:normal;font-family:system-ui,sans-serif}
table.blame td.blame{width:1%;white-space:nowrap;font-family:system-ui,sans-serif;font-size:12px;max-width:16em;overflow:hidden;text-overflow:ellipsis;border-right:1px solid var(--border)}
table.blame tr.range-start td{border-top:1px solid var(--border)}
button:disabled{opacity:.5;cursor:not-allowed}
.box>.head h2,.box>.head h3{margin:0;font-size:1.05em}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(14em,1fr));gap:1em}
.stat{border:1px solid var(--border);border-radius:6px;padding:.8em}
.stat .n{font-size:1.6em;font-weight:700}
.ok{color:var(--ok)}.bad{color:var(--bad)}.warn{color:var(--warn)}
table.data{border-collapse:collapse;width:100%}
table.data th,table.data td{border-bottom:1px solid var(--border);padding:.35em .6em;text-align:left}
nav.pages{display:flex;gap:1em;margin:1em 0}
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
@media (max-width:600px){main{padding:.6em}header.site .me{margin-left:0}table.diff td.half{width:auto}
.hide-narrow{display:none}h1{font-size:1.25em}}
`

/** Line anchors: `#L10-L20` highlights a range; shift-click on a number extends one. */
export const LINES_JS = `
(function(){
  function apply(){
    document.querySelectorAll('tr.hl').forEach(function(r){r.classList.remove('hl')});
    var m=/^#L(\\d+)(?:-L(\\d+))?$/.exec(location.hash); if(!m) return;
    var a=+m[1], b=m[2]?+m[2]:a; if(b<a){var t=a;a=b;b=t}
    for(var i=a;i<=b;i++){var r=document.getElementById('L'+i); if(r) r.classList.add('hl')}
    var first=document.getElementById('L'+a); if(first&&m[2]) first.scrollIntoView({block:'center'});
  }
  var last=null;
  document.addEventListener('click',function(e){
    var a=e.target.closest&&e.target.closest('td.ln a'); if(!a) return;
    var n=+a.getAttribute('href').slice(2);
    if(e.shiftKey&&last!==null){e.preventDefault(); history.replaceState(null,'','#L'+Math.min(last,n)+'-L'+Math.max(last,n)); apply();}
    else last=n;
  });
  window.addEventListener('hashchange',apply); apply();
})();
`

/** The cluster dashboard: re-renders its numbers from /ws's consensus feed. */
export const CLUSTER_JS = `
(function(){
  var root=document.getElementById('cluster'); if(!root||!window.WebSocket) return;
  var proto=location.protocol==='https:'?'wss:':'ws:';
  var status=document.getElementById('live-status');
  // A job ends in a block: after each (at most every 2 s), ask whether this one has.
  var lastCheck=0;
  function checkEnded(){
    var now=Date.now(); if(now-lastCheck<2000) return; lastCheck=now;
    fetch(location.pathname+'?fragment=status',{credentials:'same-origin'}).then(function(r){return r.text()})
      .then(function(t){ if(t==='completed') location.reload(); }).catch(function(){});
  }
  function connect(){
    var ws=new WebSocket(proto+'//'+location.host+'/ws');
    ws.onopen=function(){ws.send(JSON.stringify({type:'subscribe',repositories:[],blocks:true})); if(status) status.textContent='Live: refreshes on every block.';};
    ws.onmessage=function(m){ try{ if(JSON.parse(m.data).type==='block') refresh(); }catch(e){} };
    ws.onclose=function(){ if(status) status.textContent='reconnecting…'; setTimeout(connect,3000); };
  }
  var pending=false;
  function refresh(){
    if(pending) return; pending=true;
    setTimeout(function(){
      fetch(location.pathname+'?fragment=1',{credentials:'same-origin'}).then(function(r){return r.text()}).then(function(t){
        root.innerHTML=t; pending=false;
      }).catch(function(){pending=false});
    },500);
  }
  connect(); setInterval(refresh,15000);
})();
`

/** CI pages: status badges, the job graph (columns by `needs` depth), numbered logs. */
export const CI_CSS = `
.state.success{background:var(--ok)}.state.failure,.state.timed_out{background:var(--bad)}
.state.cancelled,.state.skipped,.state.neutral,.state.waiting{background:var(--muted)}
.state.queued,.state.in_progress{background:var(--warn)}
.filters{display:flex;flex-wrap:wrap;gap:.3em .8em;align-items:center}
.filters label{display:inline;margin:0}
.graph{display:flex;gap:1.5em;overflow-x:auto;padding:.8em;align-items:flex-start}
.graph ol{list-style:none;margin:0;padding:0;display:flex;flex-direction:column;gap:.6em;min-width:12em}
.graph h3{font-size:.85em;font-weight:400;color:var(--muted);margin:0 0 .4em}
.graph .job{border:1px solid var(--border);border-radius:6px;padding:.5em .7em;background:var(--panel)}
.graph .job .needs{font-size:.85em;color:var(--muted)}
.graph .stage+.stage{border-left:2px dashed var(--border);padding-left:1.5em}
ul.annotations{margin:0;padding:.5em 2em}
ul.annotations code{color:var(--bad)}
.actions-forms{display:flex;gap:.5em;flex-wrap:wrap}
dl.grid{margin:0}dl.grid dd{margin:0}
.actions-forms form{margin:0}
`

/**
 * A running job's log: appends the chunks `/ws` pushes for this job (text only, never
 * HTML); refetches the stored log when a chunk was missed or the repository has news, and
 * reloads the page once the job has ended (checked after blocks, at most every 2 s).
 */
export const CI_LOG_JS = `
(function(){
  var table=document.getElementById('log'); if(!table||!window.WebSocket) return;
  var body=table.tBodies[0], repo=table.getAttribute('data-repo'), job=+table.getAttribute('data-job');
  // Until the first refetch, the rows on the page are the log; chunks only trigger it.
  var next=0, text='', ready=false, status=document.getElementById('live-status');
  function render(){
    var lines=text.split('\\n'); if(lines.length&&lines[lines.length-1]==='') lines.pop();
    for(var i=0;i<lines.length;i++){
      var r=body.rows[i];
      if(!r){r=body.insertRow(-1); r.id='L'+(i+1); var n=r.insertCell(0); n.className='ln';
        var a=document.createElement('a'); a.href='#L'+(i+1); a.textContent=String(i+1); n.appendChild(a); r.insertCell(1);}
      if(r.cells[1].textContent!==lines[i]) r.cells[1].textContent=lines[i];
    }
    while(body.rows.length>lines.length) body.deleteRow(-1);
  }
  // One refetch at a time; one asked for meanwhile runs after it (it may see more).
  var pending=false, again=false;
  function done(){ pending=false; if(again){ again=false; reload(); } }
  function reload(){
    if(pending){ again=true; return; } pending=true;
    fetch(location.pathname+'?fragment=log',{credentials:'same-origin'}).then(function(r){
      if(r.headers.get('x-guts-job-status')==='completed'){location.reload();return null}
      next=+(r.headers.get('x-guts-log-chunks')||0); return r.text();
    }).then(function(t){ if(t!==null&&t!==undefined){text=t; ready=true; render();} done(); }).catch(done);
  }
  // A job ends in a block: after each (at most every 2 s), ask whether this one has.
  var lastCheck=0;
  function checkEnded(){
    var now=Date.now(); if(now-lastCheck<2000) return; lastCheck=now;
    fetch(location.pathname+'?fragment=status',{credentials:'same-origin'}).then(function(r){return r.text()})
      .then(function(t){ if(t==='completed') location.reload(); }).catch(function(){});
  }
  function connect(){
    var ws=new WebSocket((location.protocol==='https:'?'wss:':'ws:')+'//'+location.host+'/ws');
    ws.onopen=function(){ws.send(JSON.stringify({type:'subscribe',repositories:[repo],blocks:true}))};
    ws.onmessage=function(m){
      var e; try{e=JSON.parse(m.data)}catch(x){return}
      if(e.type==='subscribed'){ if(status) status.textContent='Live: new lines appear as the runner sends them.'; reload(); return; }
      if(e.type==='block'){ checkEnded(); return; }
      if(e.type!=='event') return;
      var p=e.payload||{};
      if(e.event==='workflow_job'&&e.action==='log'&&p.job_id===job){
        if(ready&&p.seq===next){text+=p.text; next++; render();}
        else if(!ready||p.seq>next) reload();
      } else if(e.action!=='log') reload();
    };
    ws.onclose=function(){ if(status) status.textContent='Reconnecting…'; setTimeout(connect,3000); };
  }
  connect(); setInterval(reload,15000);
})();
`
