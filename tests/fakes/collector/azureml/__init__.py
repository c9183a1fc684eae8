# A namespace shared with the installed azureml packages (they use pkgutil's style too).
__path__ = __import__("pkgutil").extend_path(__path__, __name__)
