"""Every component id of the app, in one place: panels never guess each other's names, and a mistyped id is an
``AttributeError`` at import instead of a callback that silently never fires (tests check that every id a
callback uses is in the layout)."""

URL = "url"
FILTERS = "filters-store"          # dcc.Store: Filters.to_dict()
SELECTION = "selection-store"      # dcc.Store: {"kind": "lasso"|"box"|"map", "points"|"range": ...} or None
SELECTED = "selected-store"        # dcc.Store: patch id (str) of the patch in focus, or None
URL_READY = "url-ready-store"      # dcc.Store: True once the URL has been applied on page load
MESSAGE = "message"                # html.Div: readable errors / notices for the user
AUTHOR = "author-store"            # dcc.Store(storage_type="local"): the curator's name, entered once per browser
EDITS_VERSION = "edits-version-store"  # dcc.Store: int, bumped after every committed/undone edit batch

COLOR_BY = "color-by"              # dcc.Dropdown
COMPOSITE = "composite"            # dcc.Dropdown (thumbnails)
FILTER_LABELS = "filter-labels"
FILTER_LABEL_MODE = "filter-label-mode"
FILTER_SPLITS = "filter-splits"
FILTER_COUNTRIES = "filter-countries"
FILTER_FLAGS = "filter-flags"
CLEAR_SELECTION = "clear-selection"
SELECTION_INFO = "selection-info"  # html.Div: what is selected, in words

SCATTER = "scatter-graph"
SCATTER_TIP = "scatter-tooltip"
SCATTER_INFO = "scatter-info"
SCATTER_LOADING = "scatter-loading"  # dcc.Loading around the scatter: its spinner layer ignores the mouse
MAP_LOADING = "map-loading"          # dcc.Loading around the map: likewise
SCATTER_VIEW = "scatter-view-store"  # dcc.Store: {"x": [x0, x1], "y": [y0, y1]} current zoom
SCATTER_LEGEND = "scatter-legend"  # html.Div: colour legend with counts
SCATTER_RELAYOUT = "scatter-relayout-store"  # dcc.Store: the scatter's relayoutData, only when the view moved
SCATTER_SIZE = "scatter-size-store"  # dcc.Store: {"w", "h"}: the plot area in device pixels (assets/plots.js)

MAP = "map-graph"
MAP_INFO = "map-info"
MAP_VIEW = "map-view-store"
MAP_RELAYOUT = "map-relayout-store"  # dcc.Store: the map's relayoutData, only when the view moved
MAP_SIZE = "map-size-store"          # dcc.Store: {"w", "h"}: the plot area in device pixels (assets/plots.js)
MAP_SCENE = "map-scene"              # dcc.Checklist: ["on"] shows the scene view (patch imagery) on the map

GRID = "grid"
GRID_PAGE = "grid-page"
GRID_INFO = "grid-info"
GRID_PREV = "grid-prev"
GRID_NEXT = "grid-next"
GRID_SUMMARY = "grid-summary"      # html.Div: the one-line label summary
GRID_KEY = "grid-key-store"        # dcc.Store: the filters + selection the current page belongs to (None until load)

DETAIL = "detail"

WORK_TABS = "work-tabs"            # dcc.Tabs in the bottom-left cell: "grid" | (review, tour, ...)

# curation (dashboard/panels/curate.py). A callback that outputs EDITS_VERSION commits edits: in --read-only
# mode the server refuses such callback requests with HTTP 403 (dashboard/access.py).
CURATE_AUTHOR_INPUT = "curate-author-input"
CURATE_AUTHOR_SAVE = "curate-author-save"
CURATE_AUTHOR_INFO = "curate-author-info"
CURATE_TARGET_INFO = "curate-target-info"
CURATE_LABEL = "curate-label"              # dcc.Dropdown: one class (add / remove)
CURATE_SET_LABELS = "curate-set-labels"    # dcc.Dropdown(multi): the new label set (set)
CURATE_SPLIT = "curate-split"
CURATE_NOTE = "curate-note"
CURATE_MESSAGE = "curate-message"
CURATE_POLL = "curate-poll"                # dcc.Interval: picks up other sessions' edits
CURATE_BAR = "curate-bar"                  # html.Section: the curation toolbar (class "busy" while a commit runs)
CURATE_CONFIRM = "curate-confirm"          # dcc.ConfirmDialog: asks before an edit above the threshold
CURATE_PENDING = "curate-pending-store"    # dcc.Store: the action awaiting confirmation, or None
CURATE_RID = "curate-rid-store"            # dcc.Store: the request id of the next commit (made in the browser)
#: pattern-matching: {"type": CURATE_UNDO_BATCH, "index": batch id}: Undo in the result message
CURATE_UNDO_BATCH = "curate-undo-batch"
#: pattern-matching: {"type": CURATE_ACTION, "target": "selection"|"focus"|"log", "op": op}
CURATE_ACTION = "curate-action"
#: pattern-matching: {"type": CURATE_FOCUS_LABELS, "index": patch_id} (labels of the patch in focus)
CURATE_FOCUS_LABELS = "curate-focus-labels"

# find, help, history (dashboard/panels/find.py, help.py, history.py)
FIND_INPUT = "find-input"                  # dcc.Input in the top bar: a patch id (or part of one)
FIND_MESSAGE = "find-message"
HELP_BUTTON = "help-button"                # the top bar's "?" (assets/keys.js also opens it with the ? key)
HELP_CLOSE = "help-close"                  # hidden button: Esc / a click outside closes the overlay
HELP_OVERLAY = "help-overlay"
HISTORY_BODY = "history-body"
HISTORY_MINE = "history-mine"              # dcc.Checklist: only my batches
HISTORY_MESSAGE = "history-message"
#: pattern-matching: {"type": HISTORY_ACTION, "op": "undo"|"redo", "index": batch id}
HISTORY_ACTION = "history-action"
SELECTION_NAME = "selection-name"          # dcc.Input: a name for the current selection (kept in the URL)

# tours (dashboard/panels/tour.py)
TOUR = "tour-store"                # dcc.Store: {"params": {...}, "ids": [patch ids], "jumps": [bool]} or None
TOUR_STEP = "tour-step-store"      # dcc.Store: int, the current stop (0-based)
TOUR_TIMER = "tour-timer"          # dcc.Interval: advances the tour while playing
TOUR_URL_DONE = "tour-url-done"    # dcc.Store: True once the URL's tour (if any) was replayed
TOUR_SLOTS = "tour-slots-store"    # dcc.Store: {"scatter": i, "map": j}: index of the tour's path trace per figure
TOUR_STRATEGY = "tour-strategy"
TOUR_LABEL = "tour-label"
TOUR_START_MODE = "tour-start-mode"
TOUR_STEPS = "tour-steps"
TOUR_SEED = "tour-seed"
TOUR_GO = "tour-go"
TOUR_PREV = "tour-prev"
TOUR_PLAY = "tour-play"
TOUR_NEXT = "tour-next"
TOUR_SPEED = "tour-speed"
TOUR_PRESENT = "tour-present"
TOUR_LEAVE = "tour-leave"          # hidden button: Esc / leaving full screen (idempotent, unlike the toggle)
TOUR_PLAYER = "tour-player"
TOUR_VIEW = "tour-view"            # html.Div: image, labels and caption of the current stop
TOUR_INFO = "tour-info"
TOUR_MINI = "tour-mini"            # dcc.Graph: the path on the layout (presentation view)
TOUR_EDIT_LABELS = "tour-edit-labels"
TOUR_FLAG = "tour-flag"
TOUR_SET = "tour-set"
TOUR_EDIT_MSG = "tour-edit-msg"

# review queue (dashboard/panels/review.py)
REVIEW_CLASS = "review-class"              # dcc.Dropdown: only suspects with this class (current or suggested)
REVIEW_KIND = "review-kind"                # dcc.Dropdown: spurious | missing | outlier
REVIEW_SKIPPED = "review-skipped-store"    # dcc.Store(session): patch ids skipped in this browser session
REVIEW_CURRENT = "review-current-store"    # dcc.Store: patch id of the suspect on screen (the buttons act on it)
REVIEW_BODY = "review-body"
REVIEW_MESSAGE = "review-message"
REVIEW_RESCORE = "review-rescore"          # html.Button: re-run `eomine score` on the current labels (background job)
REVIEW_RESCORE_MSG = "review-rescore-msg"  # html.Span: the job's progress, then its result
SCORES_VERSION = "scores-version-store"    # dcc.Store: bumped when a re-score finished (queue and scatter redraw)
#: pattern-matching: {"type": REVIEW_ACTION, "op": "accept"|"keep"|"skip"}; {"type": REVIEW_ITEM, "index": pid}
REVIEW_ACTION = "review-action"
REVIEW_ITEM = "review-item"

#: pattern-matching id types: {"type": THUMB, "index": patch_id}
THUMB = "thumb"
NEIGHBOUR = "neighbour"

# active learning (dashboard/panels/label.py)
PREDICTIONS_VERSION = "predictions-version-store"  # dcc.Store: bumped when WS/active/predictions.parquet changed
LABEL_PANEL = "label-panel"        # html.Section: the Label tab (class "busy" while a refit + query runs)
LABEL_STRATEGY = "label-strategy"  # dcc.Dropdown: mining.active.STRATEGIES
LABEL_SIZE = "label-size"          # dcc.Input(number): batch size
LABEL_MULTI = "label-multi"        # dcc.Checklist: several labels per patch (number keys toggle)
LABEL_HIGHLIGHT = "label-highlight"  # dcc.Checklist: ring the labelled patches on the scatter and the map
LABEL_START = "label-start"        # html.Button: fit and show a batch (nothing answered)
LABEL_SUBMIT = "label-submit"      # html.Button: submit batch & next
LABEL_CHECK = "label-check"        # html.Button: label the check set (round 0)
LABEL_ACCEPT_ALL = "label-accept-all"  # html.Button: accept the predictions of every card not decided yet
LABEL_BATCH = "label-batch-store"  # dcc.Store(session): the batch on screen (round, strategy, ids, predicted, ...)
LABEL_ANSWERS = "label-answers-store"  # dcc.Store(session): {patch id: {"labels": [...], "mark": str, "done": bool}}
LABEL_FOCUS = "label-focus-store"  # dcc.Store: index of the card with the keyboard focus
LABEL_KEY = "label-key-store"      # dcc.Store: {"key", "seq"}: the latest key, written by assets/label.js
LABEL_RID = "label-rid-store"      # dcc.Store: the request id of the next submit (made in the browser)
LABEL_SLOTS = "label-slots-store"  # dcc.Store: {"scatter": i, "map": j}: index of the highlight trace per figure
LABEL_BODY = "label-body"          # html.Div: the cards
LABEL_PROGRESS = "label-progress"  # html.Div: the progress bar while a refit + query runs
LABEL_PALETTE = "label-palette"    # html.Div: the class chips with their number keys
LABEL_COUNTER = "label-counter"    # html.Span: decided / in the batch
LABEL_MESSAGE = "label-message"
LABEL_STATUS = "label-status"      # html.Div: round, labels given, the stopping signal in words
LABEL_CURVE = "label-curve"        # dcc.Graph: accuracy on the check set vs labels given
#: pattern-matching: {"type": LABEL_CARD, "index": patch id}; {"type": LABEL_CHIPS, "index": patch id};
#: {"type": LABEL_CLASS, "index": class position} (palette chip)
LABEL_CARD = "label-card"
LABEL_CHIPS = "label-chips"
LABEL_CLASS = "label-class"
