// radnb's JupyterLab 4 / Notebook 7 extension: DICOM files and study folders open from the file
// browser in the radnb viewer (double-click .dcm; Open With → radnb viewer for files without an
// extension; right-click a folder → Open in radnb viewer).
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { MainAreaWidget, WidgetTracker } from '@jupyterlab/apputils';
import { ABCWidgetFactory, Base64ModelFactory, DocumentRegistry, DocumentWidget } from '@jupyterlab/docregistry';
import { Contents } from '@jupyterlab/services';
import { IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import { INotebookTree } from '@jupyter-notebook/tree';
import { Widget } from '@lumino/widgets';

import { RadnbViewerPanel } from './panel';

export { RadnbViewerPanel, notebookCode } from './panel';
export { RestViewerModel } from './model';

const FACTORY = 'radnb viewer';
const FACTORY_ANY = 'radnb viewer (any file)';
const FILE_TYPE = 'dicom';
const OPEN_COMMAND = 'radnb:open';
const MODEL = 'radnb-dicom';

/**
 * The document model of a DICOM file: nothing is read through the Contents API (fileFormat null),
 * since the radnb server extension reads the file on the server and sends only what the viewer needs.
 */
class RadnbModelFactory extends Base64ModelFactory {
  get name(): string {
    return MODEL;
  }

  get fileFormat(): Contents.FileFormat {
    return null;
  }
}

/** A document widget whose content is the radnb viewer; the file is read on the server, not here. */
class RadnbDocument extends DocumentWidget<RadnbViewerPanel> {}

class RadnbViewerFactory extends ABCWidgetFactory<RadnbDocument, DocumentRegistry.IModel> {
  constructor(
    options: DocumentRegistry.IWidgetFactoryOptions<RadnbDocument>,
    private app: JupyterFrontEnd
  ) {
    super(options);
  }

  protected createNewWidget(context: DocumentRegistry.IContext<DocumentRegistry.IModel>): RadnbDocument {
    const content = new RadnbViewerPanel(context.path, this.app.serviceManager.serverSettings);
    const widget = new RadnbDocument({ content, context });
    widget.title.label = content.title.label;
    return widget;
  }
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'radnb-labextension:plugin',
  description: 'Open DICOM files and study folders in the radnb viewer.',
  autoStart: true,
  optional: [ILayoutRestorer, IDefaultFileBrowser, INotebookTree],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    browser: IDefaultFileBrowser | null,
    notebookTree: INotebookTree | null
  ) => {
    app.docRegistry.addFileType({
      name: FILE_TYPE,
      displayName: 'DICOM image',
      extensions: ['.dcm', '.dicom', '.ima'],
      mimeTypes: ['application/dicom'],
      contentType: 'file',
      fileFormat: 'base64',
      iconClass: 'jp-MaterialIcon jp-ImageIcon'
    });
    app.docRegistry.addModelFactory(new RadnbModelFactory());
    const modelName = MODEL;
    const factory = new RadnbViewerFactory(
      { name: FACTORY, label: 'radnb viewer', modelName, fileTypes: [FILE_TYPE], defaultFor: [FILE_TYPE] },
      app
    );
    // files without an extension (many scanners write them): Open With → radnb viewer; the server
    // decides by content whether it is DICOM and the viewer says so plainly when it is not
    const anyFactory = new RadnbViewerFactory(
      { name: FACTORY_ANY, label: 'radnb viewer', modelName, fileTypes: ['*'], defaultFor: [] },
      app
    );
    app.docRegistry.addWidgetFactory(factory);
    app.docRegistry.addWidgetFactory(anyFactory);

    const docTracker = new WidgetTracker<RadnbDocument>({ namespace: 'radnb-viewer-doc' });
    for (const f of [factory, anyFactory]) {
      f.widgetCreated.connect((_sender, widget) => {
        widget.context.pathChanged.connect(() => void docTracker.save(widget));
        void docTracker.add(widget);
      });
    }
    const folderTracker = new WidgetTracker<MainAreaWidget<RadnbViewerPanel>>({ namespace: 'radnb-viewer' });
    if (restorer) {
      void restorer.restore(docTracker, {
        command: 'docmanager:open',
        args: widget => ({ path: widget.context.path, factory: FACTORY_ANY }),
        name: widget => widget.context.path
      });
      void restorer.restore(folderTracker, {
        command: OPEN_COMMAND,
        args: widget => ({ path: widget.content.path }),
        name: widget => widget.content.path
      });
    }

    app.commands.addCommand(OPEN_COMMAND, {
      label: 'Open in radnb viewer',
      caption: 'Show this DICOM file or folder of DICOM files in the radnb viewer',
      execute: args => {
        let path = args.path as string | undefined;
        if (path === undefined && browser) {
          const selected = Array.from(browser.selectedItems());
          path = selected.length ? selected[0].path : browser.model.path;
        }
        path = (path ?? '').replace(/^[^/]*:/, ''); // drive prefix ("RTC:") of collaborative paths
        const existing = folderTracker.find(w => w.content.path === path);
        if (existing) {
          app.shell.activateById(existing.id);
          return existing;
        }
        const content = new RadnbViewerPanel(path, app.serviceManager.serverSettings);
        const widget = new MainAreaWidget({ content });
        widget.id = `radnb-viewer-${Date.now()}-${Math.random().toString(36).slice(2)}`;
        widget.title.label = content.title.label;
        widget.title.caption = content.title.caption;
        widget.title.closable = true;
        void folderTracker.add(widget);
        if (notebookTree) {
          // Notebook 7's file page: a tab beside "Files" and "Running"
          notebookTree.addWidget(widget);
          notebookTree.currentWidget = widget;
        } else {
          app.shell.add(widget, 'main');
          app.shell.activateById(widget.id);
        }
        return widget;
      }
    });
    app.contextMenu.addItem({
      command: OPEN_COMMAND,
      selector: '.jp-DirListing-item[data-isdir="true"]',
      rank: 3
    });
    app.contextMenu.addItem({
      command: OPEN_COMMAND,
      selector: '.jp-DirListing-item[data-isdir="false"]',
      rank: 3
    });
    // test and benchmark hook: read-only handle on the open viewers
    (window as any).__radnbDocuments = {
      panels: () =>
        [...docTracker.filter(() => true).map(w => w.content), ...folderTracker.filter(() => true).map(w => w.content)] as Widget[]
    };
  }
};

export default plugin;
